"""Streamed Markdown as blocks: where a stream can be cut, and how a block is drawn.

No Textual here. `BlockSplitter` cuts streamed Markdown where what follows can no longer
change what came before (a blank line before an unindented line, a closed top-level fence,
a heading, the next item of a top-level list), and very long blocks at a line end (a code
fence is closed and reopened, the next piece joining it without a gap).

`render_block` draws one block with Rich's Markdown, adjusted for a pane: code is highlighted
by a lightweight hard-wrapping renderer whose colours come from a `SyntaxTheme`, headings sit
left, numbers read `1.`, and rules are drawn with `─`. `markdown_themes` turns the pane's
theme styles (one per name in MARKDOWN_STYLES and SYNTAX_STYLES) into the Rich themes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.lexers.special import TextLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, String, Token
from pygments.util import ClassNotFound
from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, Heading, HorizontalRule, ListItem, Markdown
from rich.rule import Rule
from rich.segment import Segment
from rich.style import Style
from rich.syntax import ANSISyntaxTheme
from rich.theme import Theme

# ---------------------------------------------------------------------------- splitting

_FENCE = re.compile(r"(`{3,}|~{3,})")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_BULLET = re.compile(r"[-+*][ \t]")
_ORDERED = re.compile(r"(\d{1,9})[.)](?:[ \t]|$)")
_RULE = re.compile(r"([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_WORD_START = re.compile(r"[^\W\d_] ")  # reversed: a letter that follows a space


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of Markdown that can no longer change; `joined` means no gap before it."""

    source: str
    joined: bool = False


class BlockSplitter:
    """Cuts streamed Markdown into finished blocks and one live tail.

    Line by line it tracks fenced code; it cuts where what follows cannot change what came
    before. `soft_limit` (and `fence_limit` inside code) bound the live tail: past them the
    block is cut at a line end (or, in one endless line, before a word) and the next piece
    joins it without a gap.
    """

    def __init__(self, soft_limit: int = 4096, fence_limit: int = 512) -> None:
        self.soft_limit = soft_limit
        self.fence_limit = fence_limit
        self._buf = ""  # the live block; may begin with a reopened fence line
        self._scan = 0  # start of the first line not examined yet
        self._fence: tuple[str, int, bool] | None = None  # char, length, at column 0
        self._fence_opener = ""
        self._after_blank = False
        self._kind: str | None = None  # "ul", "ol" or "text" for the live block
        self._joined = False

    @property
    def live(self) -> str:
        """The block that can still change."""
        return self._buf

    @property
    def live_joined(self) -> bool:
        """Whether the live block continues the last finished one without a gap."""
        return self._joined

    def feed(self, text: str) -> list[Block]:
        """Add streamed text; return the blocks it finished."""
        self._buf += text
        out: list[Block] = []
        while (end := self._buf.find("\n", self._scan)) >= 0:
            start, self._scan = self._scan, end + 1
            self._line(self._buf[start:end].rstrip("\r"), start, out)
        if self._fence is None and len(self._buf) - self._scan > self.soft_limit:
            self._cut_long_line(out)
        return out

    def _cut_long_line(self, out: list[Block]) -> None:
        """A paragraph with no line end for too long is cut before a word (never a digit or
        mark, so the rest cannot read as a list or heading); the rest joins it."""
        window = self._buf[self._scan : self._scan + self.soft_limit]
        for match in _WORD_START.finditer(window[::-1]):
            at = self._scan + len(window) - 1 - match.start()  # the letter, forwards
            self._cut(at, out, join_next=True)
            self._scan, self._kind, self._after_blank = 0, "text", False
            return

    def _cut(self, at: int, out: list[Block], *, join_next: bool) -> None:
        piece = self._buf[:at]
        if piece.strip():
            out.append(Block(piece, self._joined))
            self._joined = join_next
        self._buf = self._buf[at:]
        self._scan -= at
        self._kind = None

    def _line(self, line: str, start: int, out: list[Block]) -> None:
        body = line.lstrip(" \t")
        indent = len(line) - len(body)
        if self._fence is not None:
            char, length, top = self._fence
            if body.startswith(char * length) and not body.strip(char).strip():
                self._fence = None
                if top:
                    self._cut(self._scan, out, join_next=False)
            elif top and self._scan > self.fence_limit:
                # Close the code here and reopen it in the next piece, so neither grows without end.
                closing = char * length
                self._buf = self._buf[: self._scan] + closing + "\n" + self._buf[self._scan :]
                self._scan += len(closing) + 1
                self._cut(self._scan, out, join_next=True)
                self._buf = self._fence_opener + "\n" + self._buf
                self._scan += len(self._fence_opener) + 1
                self._kind = "text"
            return
        if not body:
            self._after_blank = True
            return
        has_content = bool(self._buf[:start].strip())
        if self._after_blank and indent == 0 and has_content:
            self._cut(start, out, join_next=False)
            start, has_content = 0, False
        self._after_blank = False
        fence = _FENCE.match(body) if indent <= 3 else None
        if fence and not (fence.group(1)[0] == "`" and "`" in body[fence.end() :]):
            top = indent == 0
            if top and has_content:
                self._cut(start, out, join_next=False)
            self._fence = (fence.group(1)[0], len(fence.group(1)), top)
            self._fence_opener = line
            self._kind = self._kind or "text"
        elif indent == 0 and _HEADING.match(line):
            if has_content:
                self._cut(start, out, join_next=False)
            self._cut(self._scan, out, join_next=False)
        elif indent == 0 and (kind := self._list_kind(line)) is not None:
            if has_content:
                # The next item of the same list joins it; a list after other text is a new block.
                self._cut(start, out, join_next=kind == self._kind)
            self._kind = kind
        else:
            self._kind = self._kind or "text"
        if self._fence is None and self._scan > self.soft_limit:
            self._cut(self._scan, out, join_next=True)

    def _list_kind(self, line: str) -> str | None:
        if _RULE.match(line):
            return None
        if _BULLET.match(line):
            return "ul"
        number = _ORDERED.match(line)
        # An ordered item interrupts a paragraph only when it starts at 1 (CommonMark).
        if number and (self._kind in (None, "ol") or number.group(1) == "1"):
            return "ol"
        return None


# ---------------------------------------------------------------------------- rendering

_PARSER = MarkdownIt().enable("strikethrough").enable("table")


@lru_cache(maxsize=64)
def _lexer(name: str) -> Lexer:
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


class _CodeBlock(CodeBlock):
    """Highlighted code, hard-wrapped on a full-width background, without vertical padding (so
    a long block cut in two pieces joins seamlessly). Several times cheaper than Rich's Syntax."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        theme: ANSISyntaxTheme = self.theme  # type: ignore[assignment]
        background = theme.get_background_style()
        inner = max(1, options.max_width - 2)
        edge = Segment(" ", background)
        line: list[Segment] = [edge]
        used = 0
        code = str(self.text).rstrip("\n").expandtabs(4)
        for token, value in _lexer(self.lexer_name).get_tokens(code):
            style = background + theme.get_style_for_token(token)
            for index, part in enumerate(value.split("\n")):
                if index:
                    yield from _end_line(line, inner - used, background)
                    line, used = [edge], 0
                while part:
                    room = inner - used
                    size = cell_len(part)
                    if size <= room:
                        line.append(Segment(part, style))
                        used += size
                        break
                    if room:
                        head = chop_cells(part, room)[0]
                        line.append(Segment(head, style))
                        part = part[len(head) :]
                    yield from _end_line(line, 0, background)
                    line, used = [edge], 0
        yield from _end_line(line, inner - used, background)


def _end_line(line: list[Segment], fill: int, background: Style) -> Iterable[Segment]:
    yield from line
    yield Segment(" " * (fill + 1), background)
    yield Segment.line()


class _ListItem(ListItem):
    """Numbers as `1.` rather than Rich's bare `1`."""

    def render_number(
        self, console: Console, options: ConsoleOptions, number: int, last_number: int
    ) -> RenderResult:
        width = len(str(last_number)) + 3
        lines = console.render_lines(
            self.elements, options.update(width=options.max_width - width), style=self.style
        )
        style = console.get_style("markdown.item.number", default="none")
        numeral = Segment(f"{number}.".rjust(width - 1) + " ", style)
        padding = Segment(" " * width, style)
        for index, line in enumerate(lines):
            yield numeral if index == 0 else padding
            yield from line
            yield Segment.line()


class _Rule(HorizontalRule):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Rule(style=console.get_style("markdown.hr", default="none"), characters="─")


class _Heading(Heading):
    LEVEL_ALIGN = dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "left")


class _Markdown(Markdown):
    elements = {
        **Markdown.elements,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
        "heading_open": _Heading,
        "list_item_open": _ListItem,
        "hr": _Rule,
    }

    def __init__(self, markup: str, code_theme: ANSISyntaxTheme) -> None:
        # Not super().__init__: it builds a new parser (about 1 ms) for every block.
        self.markup = markup
        self.parsed = _PARSER.parse(markup)
        self.code_theme = code_theme  # type: ignore[assignment]
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = None  # type: ignore[assignment]  # unread: no inline lexer


# Rich style names the component classes set; every default Rich colour is replaced.
MARKDOWN_STYLES = {
    "h1": ["markdown.h1", "markdown.h1.border"],
    "h2": ["markdown.h2"],
    "h3": ["markdown.h3", "markdown.h4", "markdown.h5", "markdown.h6", "markdown.h7"],
    "code": ["markdown.code", "markdown.kbd"],
    "code-block": ["markdown.code_block"],
    "quote": ["markdown.block_quote"],
    "link": ["markdown.link", "markdown.link_url"],
    "bullet": ["markdown.item.bullet", "markdown.item.number"],
    "rule": ["markdown.hr", "markdown.table.border"],
    "table-header": ["markdown.table.header"],
}
SYNTAX_STYLES = {
    "syntax-keyword": [Keyword, Name.Tag, Operator.Word],
    "syntax-string": [String],
    "syntax-number": [Number],
    "syntax-comment": [Comment],
    "syntax-function": [Name.Function, Name.Class, Name.Decorator, Name.Attribute],
    "syntax-builtin": [Name.Builtin, Keyword.Constant, Name.Constant],
}


_warmed = False


async def warm_lexers() -> None:
    """Import the usual code lexers off the loop once, so the first code block does not stall it."""
    global _warmed
    if _warmed:
        return
    _warmed = True

    def warm() -> None:
        for name in ("python", "bash", "json", "javascript", "text"):
            _lexer(name)

    try:
        await asyncio.wait_for(asyncio.to_thread(warm), timeout=10)
    except (TimeoutError, ClassNotFound):
        pass  # only a head start: the render path loads any lexer it needs itself


def markdown_themes(
    styles: Mapping[str, Style], background: Style
) -> tuple[Theme, ANSISyntaxTheme]:
    """Rich themes for `render_block` from one style per name of MARKDOWN_STYLES and SYNTAX_STYLES.

    A style's background is kept only where it differs from `background` (the pane's own).
    """
    own = {
        name: Style(
            color=style.color,
            bgcolor=style.bgcolor if style.bgcolor != background.bgcolor else None,
        )
        + style.without_color
        for name, style in styles.items()
    }
    rich_styles: dict[str, Style | str] = {"markdown.list": "none", "markdown.item": "none"}
    for name, targets in MARKDOWN_STYLES.items():
        for target in targets:
            rich_styles[target] = own[name]
    code = own["code-block"]
    syntax = ANSISyntaxTheme(
        {Token: Style(color=code.color)}
        | {token: own[n] for n, tokens in SYNTAX_STYLES.items() for token in tokens}
    )
    syntax._background_style = Style(bgcolor=code.bgcolor or background.bgcolor)
    return Theme(rich_styles, inherit=False), syntax


def render_block(
    source: str,
    console: Console,
    options: ConsoleOptions,
    themes: tuple[Theme, ANSISyntaxTheme],
    background: Style,
) -> list[list[Segment]]:
    """One block of Markdown as lines of segments, without blank lines around it."""
    theme, syntax = themes
    with console.use_theme(theme):
        lines = console.render_lines(_Markdown(source, syntax), options, pad=False, new_lines=False)
    start, end = 0, len(lines)
    while start < end and _is_blank(lines[start], background.bgcolor):
        start += 1
    while end > start and _is_blank(lines[end - 1], background.bgcolor):
        end -= 1
    return lines[start:end]


def _is_blank(line: list[Segment], background: object) -> bool:
    """True for a line of spaces on the pane's own background (Rich pads some blocks so)."""
    return all(
        not seg.text.strip() and (seg.style is None or seg.style.bgcolor in (None, background))
        for seg in line
    )
