"""ResponseRenderer: streamed Markdown turned into rendered lines, with no widget and no app.

The pure half of the response pane (`response_body.ResponseBody` is the widget that draws it).
Text is appended in pieces; `markdown_blocks.BlockSplitter` cuts it where a block can no
longer change. A cut block is rendered once into lines and kept; only the live tail is parsed
again (`render_tail`). `work` freezes blocks within a time budget, so a caller can spread a
backlog over several slices, and relays the whole answer out again when the width or the
themes change. Lines are (text, style index) pairs into `style_table`.

It needs only a Rich console: a pane hands it the app's console, options and own style; a test
uses a plain `rich.console.Console`.
"""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.syntax import ANSISyntaxTheme
from rich.theme import Theme

from .markdown_blocks import Block, BlockSplitter, render_block

# A rendered line: (text, style index) pairs. Tuples of str and int are not tracked by the
# garbage collector, so a long answer adds nothing to the cost of each full collection.
Line = tuple[tuple[str, int], ...]


class ResponseRenderer:
    """Appended Markdown as frozen lines plus a live tail, at a given width and theme."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.options: ConsoleOptions = self.console.options
        self.base = Style()  # the pane's own style: blank lines around a block are in it
        self.themes: tuple[Theme, ANSISyntaxTheme] = (Theme(), ANSISyntaxTheme({}))
        self.width = 0
        self.lines: list[Line] = []  # frozen: rendered once, again only on a relayout
        self.tail: list[Line] = []  # the live tail, rendered again as it grows
        self.tail_gap = False  # a blank line between the frozen lines and the tail
        self.style_table: list[Style | None] = []
        self.changed_from = 0  # first line changed since the owner last looked (it resets it)
        self.lines_generation = 0  # bumped whenever `lines` is replaced (not merely extended)
        self.tail_generation = 0  # bumped whenever `tail` changes
        self._raw: list[str] = []
        self._incoming: list[str] = []
        self._splitter = BlockSplitter()
        self._blocks: list[Block] = []
        self._pending: deque[Block] = deque()
        self._tail_source: str | None = None
        self._rebuild: tuple[list[Line], int] | None = None  # new lines, next block index
        self._style_ids: dict[Style | None, int] = {}

    # ---------------------------------------------------------------- what it holds

    @property
    def text(self) -> str:
        """Everything appended, as it was appended."""
        if len(self._raw) > 1:
            self._raw[:] = ["".join(self._raw)]
        return self._raw[0] if self._raw else ""

    @property
    def frozen_blocks(self) -> int:
        """How many blocks are finished (rendered once, never again unless relaid out)."""
        return len(self._blocks) + len(self._pending)

    @property
    def live_text(self) -> str:
        """The only part of the answer that is still parsed again as text arrives."""
        return self._splitter.live

    @property
    def has_content(self) -> bool:
        """Whether there is anything to render at all."""
        return bool(self._incoming or self._blocks or self._splitter.live)

    @property
    def busy(self) -> bool:
        """Whether `work` has something left to do."""
        return bool(self._incoming or self._pending or self._rebuild)

    @property
    def height(self) -> int:
        """Rendered lines in all: frozen, the gap, the tail."""
        return len(self.lines) + self.tail_gap + len(self.tail)

    def state(self) -> str:
        """The backlog, in words (for a report of why nothing was drawn)."""
        return (
            f"chunks waiting={len(self._incoming)}, blocks waiting={len(self._pending)}, "
            f"rebuilding={self._rebuild is not None}"
        )

    def plain_lines(self) -> list[str]:
        """The rendered answer as plain text, one string per line (frozen lines, then the tail)."""
        lines = ["".join(text for text, _ in line).rstrip() for line in self.lines]
        if self.tail_gap:
            lines.append("")
        lines.extend("".join(text for text, _ in line).rstrip() for line in self.tail)
        return lines

    # ---------------------------------------------------------------- feeding and rendering

    def append(self, text: str) -> None:
        """Buffer text; `work` renders it."""
        if not text:
            return
        self._raw.append(text)
        if len(self._raw) > 512:
            self._raw[:] = ["".join(self._raw)]
        self._incoming.append(text)

    def clear(self) -> None:
        """Forget the answer."""
        self._raw.clear()
        self._incoming.clear()
        self._splitter = BlockSplitter()
        self._blocks.clear()
        self._pending.clear()
        self.lines = []
        self.tail = []
        self.tail_gap = False
        self._tail_source = None
        self._rebuild = None
        self.changed_from = 0
        self.lines_generation += 1
        self.tail_generation += 1

    def work(self, width: int, deadline: float, *, restyled: bool = False) -> bool:
        """Freeze and render blocks until `deadline` (`time.perf_counter`); True while work
        remains. A new `width`, or `restyled` (new themes), lays every block out again."""
        if self._incoming:
            text = "".join(self._incoming)
            self._incoming.clear()
            self._pending.extend(self._splitter.feed(text))
        if restyled or width != self.width:
            self.width = width
            self._rebuild = ([], 0)
            self._tail_source = None
        if self._pending:
            self.changed_from = min(self.changed_from, len(self.lines))
        # At least one block a call, whatever the clock says: on a loaded machine the slice
        # can be spent before it starts, and a body must still get drawn in the end.
        progressed = False
        while self._pending and (not progressed or time.perf_counter() < deadline):
            progressed = True
            block = self._pending.popleft()
            self._blocks.append(block)
            self._add_block(self.lines, block)
        if self._rebuild is not None:
            self._continue_rebuild(deadline)
        return self.busy

    def render_tail(self) -> bool:
        """Render the live tail if it changed since last time; True if it did."""
        source = self._splitter.live
        if source == self._tail_source or self.width <= 0:
            return False
        self._tail_source = source
        self.changed_from = min(self.changed_from, len(self.lines))
        self.tail = self.render_source(source) if source.strip() else []
        self.tail_generation += 1
        self.tail_gap = bool(self.tail and self.lines and not self._splitter.live_joined)
        return True

    def render_source(self, source: str) -> list[Line]:
        """One piece of Markdown as packed lines at the present width and theme."""
        options = self.options.update(width=self.width, highlight=False)
        lines = render_block(source, self.console, options, self.themes, self.base)
        return [self._pack(line) for line in lines]

    def _continue_rebuild(self, deadline: float) -> None:
        assert self._rebuild is not None
        lines, index = self._rebuild
        start = index
        while index < len(self._blocks) and (index == start or time.perf_counter() < deadline):
            self._add_block(lines, self._blocks[index])
            index += 1
        if index == len(self._blocks):
            self.lines, self._rebuild = lines, None
            self.lines_generation += 1
            self.changed_from = 0
        else:
            self._rebuild = (lines, index)

    def _add_block(self, lines: list[Line], block: Block) -> None:
        rendered = self.render_source(block.source)
        if rendered and lines and not block.joined:
            lines.append(())
        lines.extend(rendered)

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
                index = ids[style] = len(self.style_table)
                self.style_table.append(style)
            if index == last:
                packed[-1] = (packed[-1][0] + text, index)
            else:
                packed.append((text, index))
                last = index
        return tuple(packed)
