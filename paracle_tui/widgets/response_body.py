"""ResponseBody: streamed Markdown drawn line by line, at a cost that does not grow with its length.

Every answer a screen shows (a step's pane, an approval, a transcript, the help text) is one.

- `append(text)`: cheap, only buffers, terminal controls made inert by
  `paracle_engine.terminal`; the body renders at most once per frame. `clear()`, `text`.
- `await rendered()`: everything appended so far is on screen; at once when it already is, or
  when the body is hidden; `RenderTimeout` names what it still waited for after
  `RENDER_TIMEOUT` seconds. `scroll_home_when_rendered()` for a dialog read from the top.
- `following` (sticks to the end), `frozen_blocks`, `live_text`, `plain_lines()`.

How: `response_render.ResponseRenderer` (pure, no widget) holds the lines:
`markdown_blocks.BlockSplitter` cuts the stream where a block can no longer change. A cut
block is rendered once into lines and kept; only the live tail is parsed again, at most once a
frame (appends in between are coalesced), and a backlog is worked off in 4 ms slices so the
loop keeps breathing. Drawing uses the line API, so a 200 KB answer costs what its visible
lines cost. The view follows the end until the user scrolls up, and follows again once back
at the bottom. A new line repaints only the body: the virtual size changes without a layout
pass, and the scrollbar shows only while the user reads back (its column is always kept, so
text never reflows). Colours come from component classes styled in styles/response.tcss.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.dom import NoScreen
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from paracle_engine import terminal_safe

from .markdown_blocks import (
    MARKDOWN_STYLES,
    SYNTAX_STYLES,
    markdown_themes,
    warm_lexers,
)
from .response_render import Line, ResponseRenderer

# How long `rendered()` waits by default before it says what it is still waiting for. A help
# text renders in a frame or two; this leaves room for a 200 KB answer on a busy machine.
RENDER_TIMEOUT = 15.0


class RenderTimeout(TimeoutError):
    """`rendered()` gave up: the message names the body and the state it was left in."""


class ResponseBody(ScrollView, can_focus=True):
    """The streamed Markdown itself: a `ResponseRenderer`'s lines, drawn line by line."""

    COMPONENT_CLASSES = {
        *(f"response-body--{name}" for name in MARKDOWN_STYLES),
        *(f"response-body--{name}" for name in SYNTAX_STYLES),
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
        self.renderer = ResponseRenderer()
        self._theme_key: tuple[Style, ...] | None = None
        self._strips: LRUCache[tuple[int, int], Strip] = LRUCache(64)  # a screenful or two
        self._tail_strips: dict[tuple[int, int], Strip] = {}
        self._strips_of = (0, 0)  # the renderer's (lines, tail) generations the caches hold
        self._base: Style | None = None  # the widget's own style, cached: it is slow to compute
        self._styles_dirty = True  # the theme's styles must be read (again) before rendering
        self._follow = True
        self._auto_scroll = False  # set while the pane itself scrolls to the end
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._unpainted = False  # lines were published that the screen has not drawn yet
        self._paint_waiters: list[asyncio.Future[None]] = []

    # ---------------------------------------------------------------- public API

    @property
    def text(self) -> str:
        """Everything appended, as shown: controls inert, so a paste of it is inert too."""
        return self.renderer.text

    @property
    def frozen_blocks(self) -> int:
        """How many blocks are finished (rendered once, never again unless resized)."""
        return self.renderer.frozen_blocks

    @property
    def live_text(self) -> str:
        """The only part of the answer that is still parsed again as text arrives."""
        return self.renderer.live_text

    @property
    def following(self) -> bool:
        """Whether the view sticks to the end as text arrives."""
        return self._follow

    def append(self, text: str) -> None:
        """Buffer streamed text; it is drawn on the next frame.

        Every answer a body shows (a pane's stream, an approval, a transcript) comes in here,
        so here its terminal controls are made inert, once per append: a scan when clean.
        """
        if not text:
            return
        self.renderer.append(terminal_safe(text))
        self._poke()

    def clear(self) -> None:
        """Forget the answer."""
        self.renderer.clear()
        self._strips.clear()
        self._tail_strips.clear()
        self._follow = True
        self.remove_class("-scrolled")
        self._publish()
        self._idle.set()

    async def rendered(self, within: float = RENDER_TIMEOUT) -> None:
        """Wait until everything appended so far is drawn on the screen.

        Returns at once when it already is, and as soon as the body is hidden, or is on a
        screen that is not shown (it draws what it holds once shown): also when that happens
        while it waits. Raises `RenderTimeout`, naming the body and what it was still waiting
        for, when `within` seconds pass first.
        """
        if self._hidden() or (self._idle.is_set() and not self._unpainted):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        if not self._idle.is_set():
            self._wake.set()  # a render loop asleep with work left must not keep us waiting
            idle = loop.create_task(self._idle.wait())
            try:
                await self._until(idle, deadline, "the render loop to lay out the text")
            finally:
                idle.cancel()
        if not self._unpainted or self._hidden():
            return
        painted: asyncio.Future[None] = loop.create_future()
        self._paint_waiters.append(painted)
        self.refresh()  # a paint must be on its way for the callbacks below to follow it

        def after_refresh(rounds: int) -> None:
            # A safety net beside the paint itself: a few refreshes that did not draw this body
            # (its screen is covered, say) mean there is nothing left to wait for.
            if painted.done():
                return
            if not (rounds and self._unpainted and not self._hidden()) or not (
                self.call_after_refresh(after_refresh, rounds - 1)
            ):
                painted.set_result(None)

        after_refresh(3)
        try:
            await self._until(painted, deadline, "the screen to paint the new lines")
        finally:
            if painted in self._paint_waiters:
                self._paint_waiters.remove(painted)

    async def _until(self, done: asyncio.Future[Any], deadline: float, what: str) -> None:
        """Wait for `done`, looking once a frame whether the body was hidden meanwhile.

        Hidden, the body is not laid out, so its render loop has no width to work with and
        `done` might never come: being hidden ends the wait, as it does when `rendered()`
        starts. Past `deadline` (loop time), `RenderTimeout` says what was awaited.
        """
        loop = asyncio.get_running_loop()
        while not done.done():
            if self._hidden():
                return
            left = deadline - loop.time()
            if left <= 0:
                raise RenderTimeout(
                    f"{self!r} not drawn in time: waited for {what}; {self._state()}"
                )
            await asyncio.wait((done,), timeout=min(left, self.FRAME_SECONDS))

    def _state(self) -> str:
        """What a timed-out `rendered()` reports: enough to tell why nothing was drawn."""
        width = self.size.width + self.scrollbar_size_vertical - 1
        try:
            screen = repr(self.screen)
        except NoScreen:  # not attached to a screen (any more)
            screen = "no screen"
        return (
            f"mounted={self.is_mounted}, size={self.size.width}x{self.size.height} "
            f"(text width {width}), render loop idle={self._idle.is_set()}, "
            f"{self.renderer.state()}, lines unpainted={self._unpainted}, "
            f"screen={screen}"
        )

    def _hidden(self) -> bool:
        """Whether nothing of this body can be drawn now: gone, on a screen not shown, or it or a
        parent not displayed."""
        if self._closing or self._closed:
            return True
        if not self.is_mounted:
            return False  # drawn once mounted
        if not all(node.display for node in self.ancestors_with_self):
            return True
        try:
            return not self.screen.is_current
        except NoScreen:  # mounted, but no longer under a screen: it is being removed
            return True

    async def scroll_home_when_rendered(self, within: float = RENDER_TIMEOUT) -> None:
        """Show the first line once everything appended is drawn (a dialog is read from the top).

        The body follows the end as text arrives, so it scrolls home only after the text is in.
        A draw that takes longer than `within` seconds is logged and the view moves anyway: a
        screen waiting on it never freezes or fails over it.
        """
        try:
            await self.rendered(within)
        except RenderTimeout as exc:
            self.log.warning(str(exc))
        if self.is_mounted:
            self.scroll_home(animate=False, immediate=True)

    def plain_lines(self) -> list[str]:
        """The rendered answer as plain text, one string per line (frozen lines, then the tail)."""
        return self.renderer.plain_lines()

    # ---------------------------------------------------------------- the render loop

    def render_lines(self, crop: Region) -> list[Strip]:
        self._unpainted = False
        for waiter in self._paint_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._paint_waiters.clear()
        return super().render_lines(crop)

    def on_unmount(self) -> None:
        self._unpainted = False
        self._idle.set()  # nothing will be drawn any more: no one waits for it
        for waiter in self._paint_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._paint_waiters.clear()

    def on_mount(self) -> None:
        # Coroutine functions, not coroutines: a worker cancelled before it starts leaves
        # nothing un-awaited behind.
        self.run_worker(self._render_loop(), exclusive=True, group="response-render")
        # After the first frame, so loading lexers does not hold it back.
        self.call_after_refresh(self.run_worker, warm_lexers, group="response-warm")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None
        self._styles_dirty = True
        self._strips.clear()
        self._tail_strips.clear()
        self.renderer.changed_from = 0
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
            if not self.renderer.busy:
                self._idle.set()
            await asyncio.sleep(self.FRAME_SECONDS)  # coalesce appends: one tail parse a frame

    def _work_slice(self) -> bool:
        """Freeze and render blocks for one time slice; True while work remains."""
        # One column is kept for the scrollbar, shown only while not following, so the text
        # never reflows when it comes and goes.
        width = self.size.width + self.scrollbar_size_vertical - 1
        renderer = self.renderer
        if width <= 0 or not renderer.has_content:
            return False  # nothing to draw yet: not even the theme is read, to keep startup light
        deadline = time.perf_counter() + self.SLICE_SECONDS
        restyled = self._styles_dirty and self._refresh_theme()
        self._give_surface()
        return renderer.work(width, deadline, restyled=restyled)

    def _render_tail(self) -> None:
        if self.renderer.width > 0:
            self._give_surface()
            self.renderer.render_tail()

    def _give_surface(self) -> None:
        """Hand the renderer what it draws with: the app's console and this body's own style."""
        renderer = self.renderer
        renderer.console = self.app.console
        renderer.options = self.app.console_options
        renderer.base = self.rich_style

    def _refresh_theme(self) -> bool:
        """Rebuild the Rich and syntax themes if the component styles changed."""
        self._styles_dirty = False
        names = [*MARKDOWN_STYLES, *SYNTAX_STYLES]
        styles = tuple(self.get_component_rich_style(f"response-body--{n}") for n in names)
        if styles == self._theme_key:
            return False
        self._theme_key = styles
        self.renderer.themes = markdown_themes(
            dict(zip(names, styles, strict=True)), self.rich_style
        )
        return True

    def _publish(self) -> None:
        """Tell the screen what changed: scrollbar, scroll position and the lines to repaint."""
        renderer = self.renderer
        size = Size(renderer.width, renderer.height)
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
            self._unpainted = True
        else:
            top = int(self.scroll_y)
            start = max(renderer.changed_from, top)
            if start < top + self.size.height:
                self.refresh_lines(start, top + self.size.height - start)
                self._unpainted = True
        renderer.changed_from = size.height

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._auto_scroll:
            # The user moved: follow again only once back at the bottom. The scrollbar shows only
            # meanwhile, so a following pane never repaints one as it grows.
            self._follow = new_value >= self.max_scroll_y
            self.set_class(not self._follow, "-scrolled")

    def on_resize(self, event: events.Resize) -> None:
        self.renderer.changed_from = 0
        self._poke()

    # ---------------------------------------------------------------- drawing

    def render_line(self, y: int) -> Strip:
        row = y + self.scroll_offset.y
        width = self.size.width
        if self._base is None:
            self._base = self.rich_style
        renderer = self.renderer
        generations = (renderer.lines_generation, renderer.tail_generation)
        if generations != self._strips_of:
            if generations[0] != self._strips_of[0]:
                self._strips.clear()
            if generations[1] != self._strips_of[1]:
                self._tail_strips.clear()
            self._strips_of = generations
        frozen = len(renderer.lines)
        if row < frozen:
            cache: LRUCache[tuple[int, int], Strip] | dict[tuple[int, int], Strip] = self._strips
            key = (row, width)
            line: Line | None = renderer.lines[row]
        else:  # tail strips are keyed by their place in the tail, which moves down as blocks freeze
            index = row - frozen - renderer.tail_gap
            cache, key = self._tail_strips, (index, width)
            line = renderer.tail[index] if 0 <= index < len(renderer.tail) else None
        strip = cache.get(key)
        if strip is not None:
            return strip
        base = self._base
        if line is None:
            return Strip.blank(width, base)
        table = renderer.style_table
        segments = [Segment(text, base + table[i] if table[i] else base) for text, i in line]
        strip = cache[key] = Strip(segments).extend_cell_length(width, base).crop(0, width)
        return strip
