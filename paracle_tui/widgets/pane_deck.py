"""The response panes of the shown run: one per step that has started, the chosen one large.

The large pane is the step the person chose (`[`/`]`, or selecting it in the DAG), else the
step that started last and still runs, else the step that ended last. Other running steps
stream in small panes beside it; finished ones step aside but keep their text, so choosing
one brings it back whole. At narrow sizes only the large pane shows, under a one-line strip
naming the steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

if TYPE_CHECKING:
    from ..bridge import RunView, StepView
    from .response_pane import ResponsePane
from paracle_engine import STEP_GLYPHS, format_duration, format_tokens

from ..safe import line

_LIVE = ("running", "awaiting_approval")


class PaneDeck(Vertical):
    """Panes of one run. `show_run` switches run; `add_text`/`step_changed` keep them live."""

    DEFAULT_CSS = """
    PaneDeck #pane-strip {
        height: 1; display: none; text-wrap: nowrap; text-overflow: ellipsis;
    }
    PaneDeck.-narrow #pane-strip { display: block; }
    PaneDeck #pane-grid { layout: grid; grid-size: 2; grid-columns: 2fr 1fr; height: 1fr; }
    PaneDeck #pane-grid.-single { grid-size: 1; grid-columns: 1fr; }
    """

    narrow: reactive[bool] = reactive(False)

    class Chosen(Message):
        """The large pane changed to `step_id`."""

        def __init__(self, step_id: str | None) -> None:
            super().__init__()
            self.step_id = step_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.run: RunView | None = None
        self.chosen: str | None = None
        self._panes: dict[str, ResponsePane] = {}
        # How many characters of each step's text its pane holds.
        self._fed: dict[str, int] = {}
        self._large: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="pane-strip")
        yield Container(id="pane-grid")

    def on_resize(self) -> None:
        if self.narrow:
            self._strip()

    def watch_narrow(self, narrow: bool) -> None:
        self.set_class(narrow, "-narrow")
        if self.is_mounted:
            self._arrange()

    # ------------------------------------------------------------------ feeding

    async def show_run(self, run: RunView | None) -> None:
        """Show `run`'s panes (rebuilt from what the session kept), or none."""
        if run is self.run and run is not None:
            return
        self.run = run
        self.chosen = None
        self._large = None
        grid = self.query_one("#pane-grid")
        await grid.remove_children()
        self._panes.clear()
        self._fed.clear()
        if run is None:
            self._arrange()
            return
        for step_id in run.step_ids:
            step = run.steps.get(step_id)
            if step is not None and (step.chunks or step.status != "pending"):
                pane = await self._pane(step)
                if step.length:
                    pane.append(step.text)
                    self._fed[step_id] = step.length
        self._arrange()

    async def add_text(self, step: StepView, text: str, end: int) -> None:
        """`text` the step wrote, ending at character `end` of its whole text."""
        pane = self._panes.get(step.step_id) or await self._pane(step)
        have = self._fed.get(step.step_id, 0)
        start = end - len(text)
        if have >= end:
            return  # the pane was filled from the step's text after this arrived
        pane.append(text[have - start :] if have >= start else step.text[have:end])
        self._fed[step.step_id] = end
        if self._large is None or step.step_id not in self._placed:
            self._arrange()

    async def step_changed(self, step: StepView) -> None:
        """The step's state moved: retitle its pane and rearrange the deck."""
        pane = self._panes.get(step.step_id)
        if pane is None:
            if step.status == "pending":
                return
            pane = await self._pane(step)
        if step.status == "running" and step.attempt > 1 and not step.length:
            pane.clear()
            self._fed[step.step_id] = 0
        self._title(pane, step)
        pane.show_tools(step.tools, step.tool_changes)
        self._arrange()

    # ------------------------------------------------------------------ choosing

    def choose(self, step_id: str | None) -> None:
        """Make `step_id`'s pane the large one (None: follow the run again)."""
        if step_id is not None and step_id not in self._panes:
            return
        self.chosen = step_id
        self._arrange()

    def cycle(self, delta: int) -> None:
        """Choose the next (+1) or previous (-1) step that has a pane, in the run's order."""
        if self.run is None or not self._panes:
            return
        order = [s for s in self.run.step_ids if s in self._panes]
        current = self._large if self._large in order else order[0]
        self.choose(order[(order.index(current) + delta) % len(order)])

    @property
    def large_pane(self) -> ResponsePane | None:
        return self._panes.get(self._large) if self._large else None

    @property
    def large_step(self) -> str | None:
        return self._large

    # ------------------------------------------------------------------ layout

    async def _pane(self, step: StepView) -> ResponsePane:
        # Imported with the first pane: the Markdown machinery is not needed for the first frame.
        from .response_pane import ResponsePane

        # The provider is on the status line; leaving it out keeps the status in view.
        pane = ResponsePane(
            step.step_id,
            agent=step.agent,
            model=step.model,
            status=step.status,
            id=f"pane-{len(self._panes)}",
        )
        self._panes[step.step_id] = pane
        await self.query_one("#pane-grid").mount(pane)
        self._title(pane, step)
        pane.show_tools(step.tools, step.tool_changes)
        return pane

    def _title(self, pane: ResponsePane, step: StepView) -> None:
        meta: list[str] = []
        if step.started_at is not None and step.ended_at is not None:
            meta.append(format_duration(step.ended_at - step.started_at))
        if step.tokens:
            meta.append(format_tokens(step.tokens, " tok"))
        if step.asking:
            meta.append(f"waiting for you: {step.asking}")
        elif step.in_tool:
            meta.append(f"tool: {step.in_tool}")
        if step.note and step.status != "failed":
            meta.append(step.note)
        elif step.error:
            meta.append(step.error)
        pane.set_source(agent=step.agent, model=step.model)
        pane.set_status(step.status, note=" · ".join(meta) or None)

    @property
    def _placed(self) -> set[str]:
        return {s for s, p in self._panes.items() if p.display}

    def _pick_large(self) -> str | None:
        run = self.run
        if run is None or not self._panes:
            return None
        if self.chosen in self._panes:
            return self.chosen
        steps = [run.steps[s] for s in run.step_ids if s in self._panes and s in run.steps]
        live = [s for s in steps if s.status in _LIVE]
        if live:
            return max(live, key=lambda s: s.started_at or 0.0).step_id
        ended = [s for s in steps if s.ended_at is not None]
        if ended:
            return max(ended, key=lambda s: s.ended_at or 0.0).step_id
        return steps[-1].step_id if steps else None

    def _arrange(self) -> None:
        large = self._pick_large()
        changed = large != self._large
        self._large = large
        run = self.run
        small: list[str] = []
        if run is not None and not self.narrow:
            small = [
                s
                for s in run.step_ids
                if s != large and s in self._panes and run.steps[s].status in _LIVE
            ]
        grid = self.query_one("#pane-grid")
        grid.set_class(not small, "-single")
        for step_id, pane in self._panes.items():
            pane.display = step_id == large or step_id in small
            pane.set_class(step_id == large, "-large")
        if large is not None:
            pane = self._panes[large]
            # Not when the app is closing under a run being shown: its panes are going already.
            if pane.parent is grid and grid.children[0] is not pane:
                grid.move_child(pane, before=0)
            pane.styles.row_span = max(1, len(small))
        self._strip()
        if changed:
            self.post_message(self.Chosen(large))

    def _strip(self) -> None:
        strip = self.query_one("#pane-strip", Static)
        run = self.run
        if run is None or not self.narrow:
            strip.update("")
            return
        labels = [
            (step_id, f" {STEP_GLYPHS.get(run.steps[step_id].status, '○')} {line(step_id)} ")
            for step_id in run.step_ids
            if step_id in self._panes
        ]
        hint = "  [ ] switch"
        # Too many steps for one line: start further in, so the large one is always named.
        width = strip.content_size.width or 10_000
        large = next((i for i, (s, _) in enumerate(labels) if s == self._large), 0)
        start = 0
        while start < large and sum(len(t) for _, t in labels[start:]) + len(hint) + 1 > width:
            start += 1
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if start:
            text.append("…", "dim")
        for step_id, label in labels[start:]:
            text.append(label, "reverse" if step_id == self._large else "")
        text.append(hint, "dim")
        strip.update(text)
