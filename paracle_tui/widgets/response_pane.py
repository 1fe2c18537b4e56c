"""ResponsePane: one step's Markdown answer, streamed, at a cost that does not grow with its length.

API (all a screen needs):

- `ResponsePane(step_id, *, agent=None, provider=None, model=None, status="pending")`
- `append(text)`: cheap, only buffers; the pane renders at most once per frame.
- `set_status(status, *, note=None)` with a `paracle_engine.models.StepStatus` value;
  `set_source(agent=..., provider=..., model=...)` for the header. A `simulated` provider
  is labelled as such.
- `clear()`, `text` (the full raw text; `c` copies it with OSC 52), `await rendered()`
  (everything appended so far is on screen).
- `body` is the `ResponseBody`; `following` says whether it sticks to the end.

How: `BlockSplitter` cuts the stream where a block can no longer change (a blank line before an
unindented line, a closed top-level fence, a heading, the next item of a top-level list), and
very long blocks at a line (a code fence is closed and reopened). A cut block is rendered once
into lines of segments and kept; only the live tail is parsed again, once per frame. Drawing
uses the line API, so a 200 KB answer costs what its visible lines cost. The view follows the
end until the user scrolls up, and follows again once back at the bottom. A new line only
repaints the pane itself: the virtual size changes without a layout pass, and the scrollbar
is shown only while the user reads back (its column is always kept, so text never reflows). Colours come from
component classes styled in styles/response.tcss.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Iterable
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
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Horizontal
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Label

from paracle_engine.models import StepStatus

from .dag_layout import STATUS_GLYPHS

# A rendered line: (text, style index) pairs. Tuples of str and int are not tracked by the
# garbage collector, so a long answer adds nothing to the cost of each full collection.
Line = tuple[tuple[str, int], ...]

# ---------------------------------------------------------------------------- splitting

_FENCE = re.compile(r"(`{3,}|~{3,})")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_BULLET = re.compile(r"[-+*][ \t]")
_ORDERED = re.compile(r"(\d{1,9})[.)](?:[ \t]|$)")
_RULE = re.compile(r"([-*_])(?:[ \t]*\1){2,}[ \t]*$")


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of Markdown that can no longer change; `joined` means no gap before it."""

    source: str
    joined: bool = False


class BlockSplitter:
    """Cuts streamed Markdown into finished blocks and one live tail.

    Line by line it tracks fenced code; it cuts where what follows cannot change what came
    before. `soft_limit` (and `fence_limit` inside code) bound the live tail: past them the
    block is cut at a line end and the next piece joins it without a gap.
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
        return out

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
        self.inline_code_theme = None


# Rich style names the component classes set; every default Rich colour is replaced.
_MARKDOWN_STYLES = {
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
_SYNTAX_STYLES = {
    "syntax-keyword": [Keyword, Name.Tag, Operator.Word],
    "syntax-string": [String],
    "syntax-number": [Number],
    "syntax-comment": [Comment],
    "syntax-function": [Name.Function, Name.Class, Name.Decorator, Name.Attribute],
    "syntax-builtin": [Name.Builtin, Keyword.Constant, Name.Constant],
}


_warmed = False


async def _warm_lexers() -> None:
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


def _is_blank(line: list[Segment], background: object) -> bool:
    """True for a line of spaces on the pane's own background (Rich pads some blocks so)."""
    return all(
        not seg.text.strip() and (seg.style is None or seg.style.bgcolor in (None, background))
        for seg in line
    )


class ResponseBody(ScrollView, can_focus=True):
    """The streamed Markdown itself: frozen lines, then the live tail, drawn line by line."""

    COMPONENT_CLASSES = {
        *(f"response-body--{name}" for name in _MARKDOWN_STYLES),
        *(f"response-body--{name}" for name in _SYNTAX_STYLES),
    }
    DEFAULT_CSS = """
    ResponseBody {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 0;
        &.-scrolled {
            scrollbar-size-vertical: 1;
        }
    }
    """
    FRAME_SECONDS = 1 / 12
    SLICE_SECONDS = 0.004

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._raw: list[str] = []
        self._incoming: list[str] = []
        self._splitter = BlockSplitter()
        self._blocks: list[Block] = []
        self._pending: deque[Block] = deque()
        self._lines: list[Line] = []
        self._tail: list[Line] = []
        self._tail_source: str | None = None
        self._tail_gap = False
        self._width = 0
        self._theme_key: tuple[Style, ...] | None = None
        self._rich_theme = Theme()
        self._syntax_theme = ANSISyntaxTheme({})
        self._rebuild: tuple[list[Line], int] | None = None  # new lines, next block index
        self._strips: LRUCache[tuple[int, int], Strip] = LRUCache(64)  # a screenful or two
        self._tail_strips: dict[tuple[int, int], Strip] = {}
        self._style_table: list[Style | None] = []
        self._style_ids: dict[Style | None, int] = {}
        self._base: Style | None = None  # the widget's own style, cached: it is slow to compute
        self._styles_dirty = True  # the theme's styles must be read (again) before rendering
        self._follow = True
        self._auto_scroll = False  # set while the pane itself scrolls to the end
        self._changed_from = 0  # first line that changed since the last publish
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    # ---------------------------------------------------------------- public API

    @property
    def text(self) -> str:
        """Everything appended, exactly as received."""
        if len(self._raw) > 1:
            self._raw[:] = ["".join(self._raw)]
        return self._raw[0] if self._raw else ""

    @property
    def frozen_blocks(self) -> int:
        """How many blocks are finished (rendered once, never again unless resized)."""
        return len(self._blocks) + len(self._pending)

    @property
    def live_text(self) -> str:
        """The only part of the answer that is still parsed again as text arrives."""
        return self._splitter.live

    @property
    def following(self) -> bool:
        """Whether the view sticks to the end as text arrives."""
        return self._follow

    def append(self, text: str) -> None:
        """Buffer streamed text; it is drawn on the next frame."""
        if not text:
            return
        self._raw.append(text)
        if len(self._raw) > 512:
            self._raw[:] = ["".join(self._raw)]
        self._incoming.append(text)
        self._poke()

    def clear(self) -> None:
        """Forget the answer."""
        self._raw.clear()
        self._incoming.clear()
        self._splitter = BlockSplitter()
        self._blocks.clear()
        self._pending.clear()
        self._lines = []
        self._tail = []
        self._tail_gap = False
        self._tail_source = None
        self._rebuild = None
        self._strips.clear()
        self._tail_strips.clear()
        self._changed_from = 0
        self._follow = True
        self.remove_class("-scrolled")
        self._publish()
        self._idle.set()

    async def rendered(self) -> None:
        """Wait until everything appended so far is drawn on the screen."""
        await self._idle.wait()
        painted = asyncio.get_running_loop().create_future()
        self.call_after_refresh(lambda: painted.done() or painted.set_result(None))
        await painted

    def plain_lines(self) -> list[str]:
        """The rendered answer as plain text, one string per line (frozen lines, then the tail)."""
        lines = ["".join(text for text, _ in line).rstrip() for line in self._lines]
        if self._tail_gap:
            lines.append("")
        lines.extend("".join(text for text, _ in line).rstrip() for line in self._tail)
        return lines

    # ---------------------------------------------------------------- the render loop

    def on_mount(self) -> None:
        self.run_worker(self._render_loop(), exclusive=True, group="response-render")
        self.run_worker(_warm_lexers(), group="response-warm")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._styles_dirty = True
        self._strips.clear()
        self._tail_strips.clear()
        self._changed_from = 0
        self._poke()

    def _poke(self) -> None:
        """There may be work: wake the render loop, and `rendered()` waits for it."""
        self._idle.clear()
        self._wake.set()

    async def _render_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            published = time.perf_counter()
            while self._work_slice():
                # A backlog is worked off in slices; the screen hears of it once a frame.
                if time.perf_counter() - published >= self.FRAME_SECONDS:
                    self._publish()
                    published = time.perf_counter()
                await asyncio.sleep(0)
            self._render_tail()
            self._publish()
            if not (self._incoming or self._pending or self._rebuild):
                self._idle.set()
            await asyncio.sleep(self.FRAME_SECONDS)  # coalesce appends: one tail parse a frame

    def _work_slice(self) -> bool:
        """Freeze and render blocks for one time slice; True while work remains."""
        # One column is kept for the scrollbar, shown only while not following, so the text
        # never reflows when it comes and goes.
        width = self.size.width + self.scrollbar_size_vertical - 1
        if width <= 0:
            return False
        deadline = time.perf_counter() + self.SLICE_SECONDS
        if self._incoming:
            text = "".join(self._incoming)
            self._incoming.clear()
            self._pending.extend(self._splitter.feed(text))
        if (self._styles_dirty and self._refresh_theme()) or width != self._width:
            self._width = width
            self._rebuild = ([], 0)
            self._tail_source = None
        if self._pending:
            self._changed_from = min(self._changed_from, len(self._lines))
        while self._pending and time.perf_counter() < deadline:
            block = self._pending.popleft()
            self._blocks.append(block)
            self._add_block(self._lines, block)
        if self._rebuild is not None:
            lines, index = self._rebuild
            while index < len(self._blocks) and time.perf_counter() < deadline:
                self._add_block(lines, self._blocks[index])
                index += 1
            if index == len(self._blocks):
                self._lines, self._rebuild = lines, None
                self._strips.clear()
                self._changed_from = 0
            else:
                self._rebuild = (lines, index)
        return bool(self._pending or self._rebuild)

    def _add_block(self, lines: list[Line], block: Block) -> None:
        rendered = self._render(block.source)
        if rendered and lines and not block.joined:
            lines.append(())
        lines.extend(rendered)

    def _render_tail(self) -> None:
        source = self._splitter.live
        if source == self._tail_source or self._width <= 0:
            return
        self._tail_source = source
        self._changed_from = min(self._changed_from, len(self._lines))
        self._tail = self._render(source) if source.strip() else []
        self._tail_strips.clear()
        self._tail_gap = bool(self._tail and self._lines and not self._splitter.live_joined)

    def _render(self, source: str) -> list[Line]:
        console = self.app.console
        options = self.app.console_options.update(width=self._width, highlight=False)
        with console.use_theme(self._rich_theme):
            lines = console.render_lines(
                _Markdown(source, self._syntax_theme), options, pad=False, new_lines=False
            )
        start, end, background = 0, len(lines), self.rich_style.bgcolor
        while start < end and _is_blank(lines[start], background):
            start += 1
        while end > start and _is_blank(lines[end - 1], background):
            end -= 1
        return [self._pack(line) for line in lines[start:end]]

    def _pack(self, segments: list[Segment]) -> Line:
        """A line as (text, style index) pairs, neighbours of one style merged."""
        ids = self._style_ids
        packed: list[tuple[str, int]] = []
        last = -1
        for text, style, _ in segments:
            if not text:
                continue
            index = ids.get(style)
            if index is None:
                index = ids[style] = len(self._style_table)
                self._style_table.append(style)
            if index == last:
                packed[-1] = (packed[-1][0] + text, index)
            else:
                packed.append((text, index))
                last = index
        return tuple(packed)

    def _refresh_theme(self) -> bool:
        """Rebuild the Rich and syntax themes if the component styles changed."""
        self._styles_dirty = False
        names = [*_MARKDOWN_STYLES, *_SYNTAX_STYLES]
        styles = tuple(self.get_component_rich_style(f"response-body--{n}") for n in names)
        if styles == self._theme_key:
            return False
        self._theme_key = styles
        base = self.rich_style
        # A component's full style carries the pane's background; keep only backgrounds of its own.
        by_name = {
            name: Style(
                color=style.color, bgcolor=style.bgcolor if style.bgcolor != base.bgcolor else None
            )
            + style.without_color
            for name, style in zip(names, styles, strict=True)
        }
        rich_styles: dict[str, Style | str] = {"markdown.list": "none", "markdown.item": "none"}
        for name, targets in _MARKDOWN_STYLES.items():
            for target in targets:
                rich_styles[target] = by_name[name]
        self._rich_theme = Theme(rich_styles, inherit=False)
        code = by_name["code-block"]
        syntax = ANSISyntaxTheme(
            {Token: Style(color=code.color)}
            | {token: by_name[n] for n, tokens in _SYNTAX_STYLES.items() for token in tokens}
        )
        syntax._background_style = Style(bgcolor=code.bgcolor or base.bgcolor)
        self._syntax_theme = syntax
        return True

    def _publish(self) -> None:
        """Tell the screen what changed: scrollbar, scroll position and the lines to repaint."""
        size = Size(self._width, len(self._lines) + self._tail_gap + len(self._tail))
        if size != self.virtual_size:
            # No layout pass: only this widget's scrollbar and lines depend on its content.
            self.set_reactive(ResponseBody.virtual_size, size)
            self._scroll_update(size)
        if self._follow and self.scroll_y != self.max_scroll_y:
            self._auto_scroll = True
            try:
                self.scroll_target_y = self.scroll_y = self.max_scroll_y  # repaints everything
            finally:
                self._auto_scroll = False
        else:
            top = int(self.scroll_y)
            start = max(self._changed_from, top)
            if start < top + self.size.height:
                self.refresh_lines(start, top + self.size.height - start)
        self._changed_from = size.height

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._auto_scroll:
            # The user moved: follow again only once back at the bottom. The scrollbar shows only
            # meanwhile, so a following pane never repaints one as it grows.
            self._follow = new_value >= self.max_scroll_y
            self.set_class(not self._follow, "-scrolled")

    def on_resize(self, event: events.Resize) -> None:
        self._changed_from = 0
        self._poke()

    # ---------------------------------------------------------------- drawing

    def render_line(self, y: int) -> Strip:
        row = y + self.scroll_offset.y
        width = self.size.width
        if self._base is None:
            self._base = self.rich_style
        frozen = len(self._lines)
        if row < frozen:
            cache, key = self._strips, (row, width)
            line: Line | None = self._lines[row]
        else:  # tail strips are keyed by their place in the tail, which moves down as blocks freeze
            index = row - frozen - self._tail_gap
            cache, key = self._tail_strips, (index, width)
            line = self._tail[index] if 0 <= index < len(self._tail) else None
        strip = cache.get(key)
        if strip is not None:
            return strip
        base = self._base
        if line is None:
            return Strip.blank(width, base)
        table = self._style_table
        segments = [Segment(text, base + table[i] if table[i] else base) for text, i in line]
        strip = cache[key] = Strip(segments).extend_cell_length(width, base).crop(0, width)
        return strip


# ---------------------------------------------------------------------------- the pane


class ResponsePane(Widget):
    """One step's answer: a header (step, agent, provider/model, status) over the streamed body."""

    DEFAULT_CSS = """
    ResponsePane {
        height: 1fr;
        layout: vertical;
    }
    ResponsePane > .response-pane--header {
        height: 1;
        width: 1fr;
    }
    ResponsePane > .response-pane--header > Label {
        width: auto;
        padding: 0 1 0 0;
    }
    ResponsePane > .response-pane--header > .response-pane--spacer {
        width: 1fr;
    }
    """
    BINDINGS = [Binding("c", "copy", "Copy answer")]

    def __init__(
        self,
        step_id: str,
        *,
        agent: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str = StepStatus.PENDING.value,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.step_id = step_id
        self.agent = agent
        self.provider = provider
        self.model = model
        self.status = StepStatus(status).value
        self.note: str | None = None
        self.body = ResponseBody()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="response-pane--header"):
            yield Label(self.step_id, classes="response-pane--step")
            yield Label("", classes="response-pane--source")
            yield Label("simulated", classes="response-pane--simulated")
            yield Label("", classes="response-pane--spacer")
            yield Label("", classes="response-pane--status")
        yield self.body

    def on_mount(self) -> None:
        self._show_header()

    # ---------------------------------------------------------------- public API

    @property
    def text(self) -> str:
        """The full raw answer."""
        return self.body.text

    @property
    def following(self) -> bool:
        """Whether the pane sticks to the end as text arrives."""
        return self.body.following

    def append(self, text: str) -> None:
        """Add streamed text (cheap: drawn on the next frame)."""
        self.body.append(text)

    def clear(self) -> None:
        """Forget the answer."""
        self.body.clear()

    async def rendered(self) -> None:
        """Wait until everything appended so far is on the screen."""
        await self.body.rendered()

    def set_status(self, status: str, *, note: str | None = None) -> None:
        """Show a StepStatus value (and an optional short note, e.g. an error)."""
        self.status = StepStatus(status).value
        self.note = note
        self._show_header()

    def set_source(
        self, *, agent: str | None = None, provider: str | None = None, model: str | None = None
    ) -> None:
        """Show which agent, provider and model answer; None keeps the current value."""
        self.agent = agent or self.agent
        self.provider = provider or self.provider
        self.model = model or self.model
        self._show_header()

    def action_copy(self) -> None:
        text = self.text
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters of {self.step_id}")

    # ---------------------------------------------------------------- header

    def _show_header(self) -> None:
        if not self.children:  # not composed yet: on_mount shows it
            return
        model = "/".join(part for part in (self.provider, self.model) if part)
        source = " · ".join(part for part in (self.agent, model) if part)
        self.query_one(".response-pane--source", Label).update(source)
        self.query_one(".response-pane--simulated", Label).display = self.provider == "simulated"
        status = self.query_one(".response-pane--status", Label)
        words = self.status.replace("_", " ")
        status.update(
            f"{STATUS_GLYPHS[self.status]} {words}" + (f" · {self.note}" if self.note else "")
        )
        for value in StepStatus:
            status.set_class(value.value == self.status, f"-{value.value.replace('_', '-')}")
