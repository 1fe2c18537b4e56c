"""DagView: a workflow's steps as a live DAG of boxes, or a compact list when it cannot fit.

API (all a screen needs):

- `set_graph(steps, edges)`: the steps in workflow order and `edges` mapping each step to its
  dependencies. Every step starts `pending`; the first step is selected.
- `DagView(clock=time.time, spin=True)`: `clock` gives the wall-clock seconds elapsed times are
  measured against (the app passes its own, a test a fixed one); `spin=False` (or the app's
  `animation_level` "none") holds the spinner on its first frame.
- `update_step(step_id, *, status=None, started_at=None, ended_at=None, tokens=None, note=None)`:
  `status` is a `paracle_engine.models.StepStatus` value; times are `clock()` seconds
  (event `ts`). Turning `running` stamps `started_at` and a final status stamps `ended_at`
  when they are not given. Unknown steps are ignored.
- `selected` / `select(step_id)`; `view_mode` says what is drawn: "vertical", "horizontal"
  or "list"; set `preferred_view` ("auto" by default) to force one.
- `DagView.StepSelected` is posted on `enter` or a click, so the app can enlarge that step's pane.

Keys: arrows move between neighbouring boxes (across levels and within one; in the list, up and
down), `enter` selects. No letters, so the app's fixed keys (`h`, `k`, `r`, `q`) work while the
view has focus. Drawing uses the line API: one row of the grid per line, cached until a step on
it changes; a 4 Hz timer runs only while a step runs or awaits
approval, for the spinner and the elapsed time. Colours come from component classes styled
in styles/dag.tcss (the app loads it); the selected box is drawn heavy, so NO_COLOR still shows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from paracle_engine import (
    FINAL_STEP_STATUSES,
    SPINNER_FRAMES,
    STEP_GLYPHS,
    check_step_status,
    format_duration,
    format_tokens,
)

from ..safe import line
from .dag_layout import (
    GraphLayout,
    NodeLabel,
    Orientation,
    Run,
    ViewMode,
    choose_view,
    compact_line,
    compact_rows,
    layout_graph,
)

TICK_SECONDS = 0.25
# Steps whose clock runs: the timer ticks only while one of them is on screen.
_TICKING = frozenset({"running", "awaiting_approval"})


@dataclass(slots=True)
class StepState:
    """What the view knows of one step."""

    status: str = "pending"
    started_at: float | None = None
    ended_at: float | None = None
    tokens: int | None = None
    note: str | None = None

    def elapsed(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at if self.ended_at is not None else now) - self.started_at


class DagView(ScrollView, can_focus=True):
    """The live DAG of one workflow run."""

    COMPONENT_CLASSES = {
        "dag-view--edge",
        "dag-view--title",
        "dag-view--meta",
        "dag-view--selected",
        "dag-view--cursor",
        *(f"dag-view--{status.replace('_', '-')}" for status in STEP_GLYPHS),
    }
    DEFAULT_CSS = """
    DagView {
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
    }
    """
    BINDINGS = [
        Binding("up", "move('up')", "Up", show=False, id="step_up"),
        Binding("down", "move('down')", "Down", show=False, id="step_down"),
        Binding("left", "move('left')", "Left", show=False, id="step_left"),
        Binding("right", "move('right')", "Right", show=False, id="step_right"),
        Binding("enter", "choose", "Enlarge step", id="enlarge_step"),
    ]

    preferred_view: reactive[Literal["auto", "vertical", "horizontal", "list"]] = reactive("auto")
    """The view to draw; "auto" picks the one that fits (see `dag_layout.choose_view`)."""

    class StepSelected(Message):
        """The user chose a step (enter or click): show it large."""

        def __init__(self, dag_view: DagView, step_id: str) -> None:
            super().__init__()
            self.dag_view = dag_view
            self.step_id = step_id

        @property
        def control(self) -> DagView:
            return self.dag_view

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        spin: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.clock = clock
        self._spin = spin
        self._steps: list[str] = []
        self._edges: dict[str, list[str]] = {}
        self._states: dict[str, StepState] = {}
        self._layouts: dict[Orientation, GraphLayout] = {}
        self._compact: list[tuple[str, int]] = []
        self._compact_index: dict[str, int] = {}
        self._mode: ViewMode = "list"
        self._selected: str | None = None
        self._rows: dict[int, Strip] = {}
        self._styles: dict[str | None, Style] = {}
        self._ticker: Timer | None = None
        self._frame = 0

    # ------------------------------------------------------------------ public API

    @property
    def selected(self) -> str | None:
        """The selected step id."""
        return self._selected

    @property
    def view_mode(self) -> ViewMode:
        """What is drawn now: "vertical", "horizontal" or "list"."""
        return self._mode

    @property
    def animating(self) -> bool:
        """True while the timer runs (only while a step runs or awaits approval)."""
        return self._ticker is not None

    def state(self, step_id: str) -> StepState | None:
        """The state the view holds for a step."""
        return self._states.get(step_id)

    def set_graph(self, steps: list[str], edges: dict[str, list[str]]) -> None:
        """Show a new workflow: `edges` maps each step to its dependencies."""
        self._steps = list(dict.fromkeys(steps))
        self._edges = {step: list(edges.get(step, ())) for step in self._steps}
        self._states = {step: StepState() for step in self._steps}
        self._layouts = {}
        self._compact = compact_rows(self._steps, self._edges)
        self._compact_index = {step: i for i, (step, _) in enumerate(self._compact)}
        self._selected = self._steps[0] if self._steps else None
        self._update_ticker()
        self._relayout()

    def update_step(
        self,
        step_id: str,
        *,
        status: str | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        tokens: int | None = None,
        note: str | None = None,
    ) -> None:
        """Change what a step shows; arguments left as None keep their value."""
        state = self._states.get(step_id)
        if state is None:
            self.log.warning(f"DagView: no step {step_id!r} in the graph")
            return
        if status is not None:
            state.status = check_step_status(status)
            now = self.clock()
            if state.status == "running" and started_at is None:
                started_at = state.started_at or now
                state.ended_at = None
            if (
                state.status in FINAL_STEP_STATUSES
                and state.started_at is not None
                and ended_at is None
            ):
                ended_at = state.ended_at or now
        if started_at is not None:
            state.started_at = started_at
        if ended_at is not None:
            state.ended_at = ended_at
        if tokens is not None:
            state.tokens = tokens
        if note is not None:
            state.note = note or None
        self._update_ticker()
        self._refresh_step(step_id)

    def select(self, step_id: str) -> None:
        """Select a step and scroll it into view."""
        if step_id not in self._states or step_id == self._selected:
            return
        previous, self._selected = self._selected, step_id
        if previous is not None:
            self._refresh_step(previous)
        self._refresh_step(step_id)
        region = self._step_region(step_id)
        if region is not None:
            self.scroll_to_region(region, animate=False, immediate=True)

    # ------------------------------------------------------------------ layout

    def watch_preferred_view(self) -> None:
        self._relayout()

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def _layout(self, orientation: Orientation) -> GraphLayout:
        if orientation not in self._layouts:
            self._layouts[orientation] = layout_graph(
                self._steps, self._edges, orientation=orientation
            )
        return self._layouts[orientation]

    def _relayout(self) -> None:
        width, height = self.size
        if self.preferred_view != "auto":
            self._mode = self.preferred_view
        elif not self._steps:
            self._mode = "list"
        else:
            # One cell kept for a scrollbar, so a graph that "fits" never needs a second one.
            self._mode = choose_view(
                width - 1, height, self._layout("vertical"), self._layout("horizontal")
            )
        if self._mode == "list":
            self.virtual_size = Size(width, max(1, len(self._compact)))
        else:
            layout = self._layout(self._mode)
            self.virtual_size = Size(layout.width, layout.height)
        self._rows.clear()
        self.refresh()

    def _step_region(self, step_id: str) -> Region | None:
        if self._mode == "list":
            index = self._compact_index.get(step_id)
            return None if index is None else Region(0, index, self.size.width, 1)
        place = self._layout(self._mode).nodes.get(step_id)
        return None if place is None else Region(place.x, place.y, place.width, place.height)

    def _refresh_step(self, step_id: str) -> None:
        region = self._step_region(step_id)
        if region is None:
            return
        for y in range(region.y, region.bottom):
            self._rows.pop(y, None)
        self.refresh_lines(region.y, region.height)

    # ------------------------------------------------------------------ spinner

    def _update_ticker(self) -> None:
        running = any(s.status in _TICKING for s in self._states.values())
        if running and self._ticker is None and self.is_mounted:
            self._ticker = self.set_interval(TICK_SECONDS, self._tick)
        elif not running and self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_mount(self) -> None:
        self._update_ticker()

    @property
    def spin(self) -> bool:
        """False holds the spinner of running steps on its first frame (for still pictures)."""
        return self._spin

    @spin.setter
    def spin(self, value: bool) -> None:
        self._spin = value
        self._rows.clear()
        self.refresh()

    @property
    def spinning(self) -> bool:
        """Whether the spinner turns: not when held by `spin` or by the app's animation level."""
        return self._spin and self.app.animation_level != "none"

    def _tick(self) -> None:
        if self.spinning:
            self._frame += 1
        for step, state in self._states.items():
            if state.status in _TICKING:
                self._refresh_step(step)

    # ------------------------------------------------------------------ drawing

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._rows.clear()

    def _style(self, key: str | None) -> Style:
        style = self._styles.get(key)
        if style is None:
            # Full component styles: "auto" and alpha colours are resolved against the background.
            style = (
                self.rich_style
                if key is None
                else self.get_component_rich_style(f"dag-view--{key.replace('_', '-')}")
            )
            self._styles[key] = style
        return style

    def _label(self, step_id: str, now: float) -> NodeLabel:
        state = self._states[step_id]
        glyph = STEP_GLYPHS.get(state.status, "?")
        if state.status == "running":
            glyph = SPINNER_FRAMES[self._frame % len(SPINNER_FRAMES) if self.spinning else 0]
        meta = " · ".join(
            part
            for part in (
                format_duration(state.elapsed(now)),
                format_tokens(state.tokens, " tok"),
                line(state.note),
            )
            if part
        )
        # Step ids and notes come from a workspace and from servers: drawn inert.
        title = line(step_id)
        return NodeLabel(glyph, title, meta, state.status, step_id == self._selected)

    def _build_row(self, y: int) -> Strip:
        now = self.clock()
        if self._mode == "list":
            if y >= len(self._compact):
                return Strip.blank(0)
            step, depth = self._compact[y]
            runs: list[Run] = compact_line(self._label(step, now), depth, self.size.width)
            cursor = step == self._selected
        else:
            layout = self._layout(self._mode)
            steps_here = layout.row_nodes.get(y, ())
            runs = layout.render_row(y, {step: self._label(step, now) for step in steps_here})
            cursor = False
        segments = [Segment(text, self._style(key)) for text, key in runs if text]
        strip = Strip(segments)
        if cursor:
            strip = strip.apply_style(self.get_component_rich_style("dag-view--cursor"))
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        row = scroll_y + y
        base = self.rich_style
        if not self._steps:
            if y == 0:
                return Strip([Segment("no steps", self._style("meta"))]).extend_cell_length(
                    width, base
                )
            return Strip.blank(width, base)
        if row >= self.virtual_size.height:
            return Strip.blank(width, base)
        strip = self._rows.get(row)
        if strip is None:
            strip = self._rows[row] = self._build_row(row)
        pad = self._pad()
        if pad:
            strip = Strip.join([Strip.blank(pad, base), strip])
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _pad(self) -> int:
        """Columns left blank so a graph narrower than the view sits in the middle."""
        if self._mode == "list":
            return 0
        return max(0, (self.size.width - self.virtual_size.width) // 2)

    # ------------------------------------------------------------------ keys and mouse

    def action_move(self, direction: str) -> None:
        if not self._steps:
            return
        if self._selected is None:
            self.select(self._steps[0])
            return
        if self._mode == "list":
            self.action_step(1 if direction in ("down", "right") else -1)
            return
        layout = self._layout(self._mode)
        across = ("left", "right") if self._mode == "vertical" else ("up", "down")
        place = layout.nodes[self._selected]
        level = layout.levels[place.level]
        if direction in across:
            index = level.index(self._selected) + (1 if direction == across[1] else -1)
            if 0 <= index < len(level):
                self.select(level[index])
            return
        target = place.level + (1 if direction in ("down", "right") else -1)
        if not 0 <= target < len(layout.levels) or not layout.levels[target]:
            return

        def cross_center(step: str) -> float:
            p = layout.nodes[step]
            return p.x + p.width / 2 if self._mode == "vertical" else p.y + p.height / 2

        here = cross_center(self._selected)
        self.select(min(layout.levels[target], key=lambda s: abs(cross_center(s) - here)))

    def action_step(self, delta: int) -> None:
        order = (
            [step for step, _ in self._compact]
            if self._mode == "list"
            else self._layout(self._mode).reading_order
        )
        if not order:
            return
        if self._selected not in order:
            self.select(order[0])
            return
        index = order.index(self._selected) + delta
        if 0 <= index < len(order):
            self.select(order[index])

    def action_choose(self) -> None:
        if self._selected is not None:
            self.post_message(self.StepSelected(self, self._selected))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._steps:
            return
        x, y = offset + self.scroll_offset
        x -= self._pad()
        if self._mode == "list":
            step = self._compact[y][0] if 0 <= y < len(self._compact) else None
        else:
            step = self._layout(self._mode).node_at(x, y)
        if step is not None:
            self.select(step)
            self.post_message(self.StepSelected(self, step))
