"""The main screen: the library, the runs of the session, the live DAG and the response panes.

It routes the bridge's messages to its widgets and keeps two selections: the highlighted
library item (what `r` runs) and the selected run (what the DAG and panes show and `escape`
cancels). Below 100 columns the library and the run become two tabs (`1`, `2`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static, Tab, Tabs

from paracle_engine import ParacleError, format_duration, format_tokens, run_glyph

from .. import messages as msg
from ..safe import plain
from ..widgets.dag_view import DagView
from ..widgets.details import ItemDetails
from ..widgets.library import Library
from ..widgets.pane_deck import PaneDeck
from ..widgets.run_list import RunList
from ..widgets.status_line import StatusLine

if TYPE_CHECKING:
    from paracle_engine import WorkflowSpec

    from ..app import ParacleApp
    from ..bridge import RunBegan, RunEnded, RunView, StatusChanged, StepChanged, StepText

NARROW_WIDTH = 100
# Elapsed times show tenths: they move with the DAG's clock, four times a second.
TICK_SECONDS = 0.25


class MainScreen(Screen[None]):
    """Library and runs on the left, the selected run (or a preview) on the right."""

    BINDINGS = [
        Binding("r", "run_selected", "Run", id="run"),
        Binding("escape", "cancel_selected", "Cancel run", id="cancel"),
        Binding("X", "cancel_all", "Cancel all", show=False, id="cancel_all"),
        Binding("R", "retry_run", "Retry", show=False, id="retry"),
        Binding("a", "approve_pending", "Approve", show=False, id="approve_pending"),
        Binding("n", "new_agent", "New agent", show=False, id="new_agent"),
        Binding("e", "edit_agent", "Edit agent", show=False, id="edit_agent"),
        Binding("c", "copy_pane", "Copy", show=False, id="copy"),
        Binding("left_square_bracket", "cycle_pane(-1)", "Prev pane", show=False, id="prev_pane"),
        Binding("right_square_bracket", "cycle_pane(1)", "Next pane", show=False, id="next_pane"),
        Binding("1", "show_tab('library')", "Library", show=False, id="tab_library"),
        Binding("2", "show_tab('run')", "Run", show=False, id="tab_run"),
    ]

    # Focus lands on the library as the screen is composed: one focus change, not two.
    AUTO_FOCUS = "#library-list"

    narrow: reactive[bool] = reactive(False)
    tab: reactive[str] = reactive("library")

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        # The tab's class from the start: set later, it would restyle every widget once more.
        super().__init__(classes="-tab-library")
        self.clock = clock
        self.shown: RunView | None = None
        self._ticks = 0
        self._specs: dict[str, WorkflowSpec | ParacleError] = {}

    @property
    def papp(self) -> ParacleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(Tab("1 Library", id="library"), Tab("2 Run", id="run"), id="view-tabs")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Library(id="library-list")
                yield Static("RUNS", id="runs-heading", classes="section-heading")
                yield RunList(id="run-list")
            with Vertical(id="work"):
                yield Static("", id="run-title")
                yield DagView(clock=self.clock, id="dag")
                yield PaneDeck(id="panes")
                yield ItemDetails(id="details")
        yield StatusLine(clock=self.clock, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-list", RunList).display = False
        self.query_one("#runs-heading").display = False
        self.query_one("#panes").display = False
        self.set_interval(TICK_SECONDS, self._tick)
        self.query_one("#details", ItemDetails).show_text("Opening the workspace…")

    def engine_ready(self) -> None:
        """The engine is open: list its agents and workflows and show the status line."""
        self.refresh_library()
        self.show_status()

    # ------------------------------------------------------------------ selection

    @property
    def highlighted_item(self) -> tuple[str, str] | None:
        """("agent", id) or ("workflow", name) under the library's cursor."""
        item = self.query_one("#library-list", Library).highlighted_id
        if not item:
            return None
        kind, _, name = item.partition(":")
        return kind, name

    @property
    def selected_run(self) -> RunView | None:
        return self.shown

    def refresh_library(self, keep: str | None = None) -> None:
        """Re-read the engine's agents and workflows (after an agent was saved)."""
        engine = self.papp.engine
        flows = [(name, entry.description) for name, entry in engine.workflows.items()]
        self.query_one("#library-list", Library).fill(
            engine.agents, flows, keep=keep, route=engine.plan
        )

    def workflow_spec(self, name: str) -> WorkflowSpec:
        """The parsed workflow (cached); raises the engine's error when it does not load."""
        spec = self._specs.get(name)
        if spec is None:
            try:
                spec = self.papp.engine.load_workflow(name)
            except ParacleError as exc:
                spec = exc
            self._specs[name] = spec
        if isinstance(spec, ParacleError):
            raise spec
        return spec

    @on(OptionList.OptionHighlighted, "#library-list")
    def _library_moved(self) -> None:
        item = self.highlighted_item
        if item is None:
            return
        self.show_preview(*item)

    @on(OptionList.OptionSelected, "#library-list")
    def _library_chosen(self) -> None:
        self.post_message(msg.RunSelected())

    @on(OptionList.OptionHighlighted, "#run-list")
    async def _run_moved(self) -> None:
        # The list's highlight now, not the event's: a run added meanwhile may have moved it.
        run_id = self.query_one("#run-list", RunList).highlighted_run
        run = self.papp.session.runs.get(run_id or "")
        if run is not None and run is not self.shown:
            await self.show_run(run)

    @on(OptionList.OptionSelected, "#run-list")
    async def _run_chosen(self, event: OptionList.OptionSelected) -> None:
        run = self.papp.session.runs.get(event.option.id or "")
        if run is not None:
            await self.show_run(run)
            self.tab = "run"
            self.query_one("#panes", PaneDeck).focus()

    def show_preview(self, kind: str, name: str) -> None:
        """Show what the library item is (the DAG of a workflow, nothing running)."""
        self.shown = None
        dag = self.query_one("#dag", DagView)
        details = self.query_one("#details", ItemDetails)
        self.query_one("#panes").display = False
        details.display = True
        title = self.query_one("#run-title", Static)
        if kind == "agent":
            agent = self.papp.engine.agents.get(name)
            dag.display = False
            title.update(plain(f"Agent {name}", one_line=True))
            if agent is not None:
                details.show_agent(agent, self.papp.engine.plan(agent))
            return
        title.update(plain(f"Workflow {name}", one_line=True))
        try:
            spec = self.workflow_spec(name)
        except ParacleError as exc:
            dag.display = False
            details.show_error(f"{name} cannot load", exc.one_line())
            return
        dag.display = True
        dag.set_graph([s.id for s in spec.steps], {s.id: list(s.depends_on) for s in spec.steps})
        details.show_workflow(spec)

    async def show_run(self, run: RunView) -> None:
        """Show `run` live in the DAG and the panes."""
        self.shown = run
        self.query_one("#run-list", RunList).select_run(run.run_id)
        dag = self.query_one("#dag", DagView)
        dag.display = run.kind == "workflow"
        dag.set_graph(list(run.step_ids), {k: list(v) for k, v in run.edges.items()})
        for step in run.steps.values():
            self._dag_step(dag, step)
        self.query_one("#details").display = False
        deck = self.query_one("#panes", PaneDeck)
        deck.display = True
        await deck.show_run(run)
        self._title(run)

    # ------------------------------------------------------------------ bridge messages

    async def on_run_began(self, message: RunBegan) -> None:
        runs = self.query_one("#run-list", RunList)
        runs.display = True
        self.query_one("#runs-heading").display = True
        runs.update_run(message.run, now=self.clock())
        # A new run takes the stage: the person just asked for it (or the CLI did).
        await self.show_run(message.run)
        self.tab = "run"

    async def on_step_text(self, message: StepText) -> None:
        if message.run is self.shown:
            deck = self.query_one("#panes", PaneDeck)
            await deck.add_text(message.step, message.text, message.end)

    async def on_step_changed(self, message: StepChanged) -> None:
        run = message.run
        self.query_one("#run-list", RunList).update_run(run, now=self.clock())
        if run is not self.shown:
            return
        self._dag_step(self.query_one("#dag", DagView), message.step)
        await self.query_one("#panes", PaneDeck).step_changed(message.step)
        self._title(run)

    def on_run_ended(self, message: RunEnded) -> None:
        run = message.run
        self.query_one("#run-list", RunList).update_run(run, now=self.clock())
        if run is self.shown:
            self._title(run)
        if run.status == "failed":
            self.notify(
                run.error or "the run failed", title=f"{run.target} failed", severity="error"
            )

    def on_status_changed(self, message: StatusChanged) -> None:
        self.show_status()

    def show_status(self) -> None:
        session = self.papp.session
        provider, model = self.papp.active_provider_model()
        self.query_one("#status", StatusLine).show(
            provider=provider,
            model=model,
            usage=session.usage,
            retries=session.retries,
            rate_waits=session.rate_waits,
            breakers=session.breakers,
            running=len(session.running()),
            history_error=session.history_error,
            now=self.clock(),
        )

    def _tick(self) -> None:
        """Elapsed times of running runs; once a second, the status line's countdowns."""
        if self.papp.bridge is None:
            return
        self._ticks += 1
        session = self.papp.session
        running = session.running()
        runs = self.query_one("#run-list", RunList)
        for run in running:
            runs.update_run(run, now=self.clock())
        if self.shown is not None and self.shown.active:
            self._title(self.shown)
        if self._ticks % round(1 / TICK_SECONDS):
            return
        if running or session.rate_waits:
            self.show_status()
        now = self.clock()
        for provider, (until, _) in list(session.rate_waits.items()):
            if until <= now:  # the wait is over: the countdown has said so once
                del session.rate_waits[provider]

    def _dag_step(self, dag: DagView, step: Any) -> None:
        # A tool call waiting for a person shows as a step waiting for one (its glyph and
        # colour); a call running names its tool in place of the note.
        status, note = step.status, step.note or ""
        if step.status == "running" and step.asking:
            status, note = "awaiting_approval", f"asks you: {step.asking}"
        elif step.status == "running" and step.in_tool:
            note = f"tool: {step.in_tool}"
        dag.update_step(
            step.step_id,
            status=status,
            started_at=step.started_at,
            ended_at=step.ended_at,
            tokens=step.tokens or None,
            note=note,
        )

    def _title(self, run: RunView) -> None:
        end = run.ended_at if run.ended_at is not None else self.clock()
        parts = [
            f"{run_glyph(run.status)} {run.target}",
            run.status,
            format_duration(end - run.started_at),
        ]
        tokens = run.usage.total
        if tokens:
            parts.append(f"{format_tokens(tokens)} tok")
        if run.kind == "workflow":
            done = sum(1 for s in run.steps.values() if s.status == "completed")
            parts.append(f"{done}/{len(run.step_ids)} steps")
        parts.append(run.run_id)
        # The target names a workspace's agent or workflow: shown inert, never as markup.
        self.query_one("#run-title", Static).update(plain("  ·  ".join(parts), one_line=True))

    # ------------------------------------------------------------------ panes and tabs

    @on(DagView.StepSelected)
    def _step_selected(self, event: DagView.StepSelected) -> None:
        self.query_one("#panes", PaneDeck).choose(event.step_id)

    @on(PaneDeck.Chosen)
    def _pane_chosen(self, event: PaneDeck.Chosen) -> None:
        # The DAG marks the step whose pane is large.
        if event.step_id is not None:
            self.query_one("#dag", DagView).select(event.step_id)

    def action_cycle_pane(self, delta: int) -> None:
        self.query_one("#panes", PaneDeck).cycle(delta)

    # What these keys mean is the app's to do: the screen asks, the app handles the message.

    def action_run_selected(self) -> None:
        self.post_message(msg.RunSelected())

    def action_cancel_selected(self) -> None:
        self.post_message(msg.CancelSelected())

    def action_cancel_all(self) -> None:
        self.post_message(msg.CancelAll())

    def action_retry_run(self) -> None:
        self.post_message(msg.RetrySelected())

    def action_approve_pending(self) -> None:
        self.post_message(msg.ApprovePending())

    def action_new_agent(self) -> None:
        self.post_message(msg.NewAgentRequested())

    def action_edit_agent(self) -> None:
        self.post_message(msg.EditAgentRequested())

    def action_copy_pane(self) -> None:
        self.copy_pane()

    def copy_pane(self) -> None:
        """Copy the large pane's text to the clipboard (OSC 52)."""
        pane = self.query_one("#panes", PaneDeck).large_pane
        if pane is None or not pane.text:
            self.notify("Nothing to copy yet.")
            return
        self.app.copy_to_clipboard(pane.text)
        self.notify(f"Copied {len(pane.text):,} characters (OSC 52).")

    def action_show_tab(self, tab: str) -> None:
        self.tab = tab

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_tab":
            return self.narrow
        return True

    def on_resize(self) -> None:
        self.narrow = self.size.width < NARROW_WIDTH

    def watch_narrow(self, narrow: bool) -> None:
        self.set_class(narrow, "-narrow")
        self.query_one("#panes", PaneDeck).narrow = narrow
        self._apply_tab()
        self.refresh_bindings()

    def watch_tab(self, tab: str) -> None:
        self._apply_tab()

    @on(Tabs.TabActivated, "#view-tabs")
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        if event.tab.id:
            self.tab = event.tab.id

    def _apply_tab(self) -> None:
        self.set_class(self.tab == "library", "-tab-library")
        self.set_class(self.tab == "run", "-tab-run")
        tabs = self.query_one("#view-tabs", Tabs)
        if tabs.active != self.tab:
            tabs.active = self.tab
