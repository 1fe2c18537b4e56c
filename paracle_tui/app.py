"""ParacleApp: owns one Engine on the app's own event loop and wires it to the screens.

The app starts the engine, pumps its events to the main screen through the bridge, runs
agents and workflows as workers it owns, answers approvals with a dialog, and closes the
engine (cancelling what still runs, flushing history) when it exits. It does not render,
parse or persist: the screens and widgets do the showing, the engine does the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import time
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import App
from textual.binding import Binding
from textual.theme import Theme

from paracle_engine import ParacleError, one_line, terminal_safe, terminal_safe_line

from . import messages as msg

if TYPE_CHECKING:
    from textual.command import Provider
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

    from paracle_engine import Engine

    from .bridge import EngineBridge, Session
    from .screens.approval import ApprovalDesk
    from .screens.main import MainScreen
    from .screens.onboarding import Choice

Start = tuple[str, str, Any] | None
# Young collections this far apart let a frame's cyclic garbage (strips, segments) die young.
GC_THRESHOLD = (20_000, 10, 10)
SHORT_HEIGHT = 32


def _stylesheets() -> list[str | PurePath]:
    # The package is the top-level styles/ folder, mapped in at install: not a module mypy sees.
    styles = importlib.import_module(f"{__package__}.styles")
    return sorted(Path(styles.__file__ or "").parent.glob("*.tcss"))


def _paracle_commands() -> type[Provider]:
    from .screens.palette import ParacleCommands

    return ParacleCommands


class ParacleApp(App[None]):
    """The Paracle terminal app. It owns the Engine it is given (not yet started), or the one
    `open_engine()` returns: that is called in a thread once the first frame is out, so the
    workspace and its models load while the screen already shows."""

    TITLE = "Paracle"
    CSS_PATH = _stylesheets()
    COMMANDS = App.COMMANDS | {_paracle_commands}
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("h", "history", "History", id="history"),
        Binding("k", "keys", "Keys", id="keys"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        engine: Engine | Callable[[], Engine],
        *,
        start: Start = None,
        clock: Callable[[], float] = time.time,
        run_ids: Callable[[], str] | None = None,
        frame: float | None = None,
    ) -> None:
        super().__init__()
        self._open_engine = engine if callable(engine) else None
        self.engine: Engine = None if callable(engine) else engine  # type: ignore[assignment]
        self.start_request = start
        self.clock = clock
        self.run_ids = run_ids
        self.frame = frame
        self.bridge: EngineBridge | None = None
        self._starting: asyncio.Future[Any] | None = None
        self.booted = asyncio.Event()
        self._approvals: ApprovalDesk | None = None
        self._remember_theme = False
        self._gc_threshold: tuple[int, int, int] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def session(self) -> Session:
        assert self.bridge is not None
        return self.bridge.session

    @property
    def main(self) -> MainScreen:
        from .screens.main import MainScreen

        return next(s for s in self.screen_stack if isinstance(s, MainScreen))

    @property
    def approvals(self) -> ApprovalDesk:
        """The steps waiting for a person (made on first use: it imports the dialog)."""
        if self._approvals is None:
            from .screens.approval import ApprovalDesk

            self._approvals = ApprovalDesk(self, self._run_label)
        return self._approvals

    @property
    def runs(self) -> Any:
        """The engine's RunRepository, or None when history is off."""
        try:
            return self.engine.runs
        except ParacleError:
            return None

    def get_default_screen(self) -> Screen:
        # The main screen is the first on the stack: no empty default screen drawn before it.
        from .screens.main import MainScreen

        return MainScreen(clock=self.clock)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.call_after_refresh(self._first_frame)

    def on_resize(self, event: events.Resize) -> None:
        # Dialogs tighten on a short terminal (styles/app.tcss), so their buttons stay in view.
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")

    def _first_frame(self) -> None:
        self._settle_gc()
        # The engine opens once the first frame is out: the workspace can load meanwhile.
        self.run_worker(self._boot(), name="boot", exit_on_error=False)

    def _settle_gc(self) -> None:
        """Keep what exists now out of every full collection, and collect the young less often."""
        # A started app holds ~185k objects: full collections over them stall the loop 100-200 ms.
        gc.freeze()
        if self._gc_threshold is None:
            self._gc_threshold = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLD)

    def _restore_gc(self) -> None:
        """Leave the collector as it was found (tests run many apps in one process)."""
        if self._gc_threshold is not None:
            gc.unfreeze()
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None

    async def _boot(self) -> None:
        """Open the engine and its history, ask for a missing key, then start what was asked."""
        if self.engine is None:
            try:
                # In the thread too: importing the engine (pydantic, the SDKs) would stall the loop.
                self.engine = await asyncio.to_thread(self._open_engine)
            except ParacleError as exc:
                self.exit(return_code=exc.exit_code, message=f"error: {exc.one_line()}")
                return
        await asyncio.to_thread(_import_for_boot)
        from paracle_engine import new_run_id

        from .bridge import FRAME_SECONDS, EngineBridge

        if self.engine.settings.theme in self.available_themes:
            self.theme = self.engine.settings.theme
        self.run_ids = self.run_ids or new_run_id
        main = self.main
        self.bridge = EngineBridge(
            self.engine.bus, main, frame=self.frame or FRAME_SECONDS, clock=self.clock
        )
        self.run_worker(self.bridge.run(), name="engine events", group="bridge")
        # A task of its own, not a worker: quitting during the start must not cut it in half.
        self._starting = asyncio.ensure_future(self.engine.start())
        try:
            await asyncio.shield(self._starting)
        except ParacleError as exc:
            self.notify(exc.one_line(), title="History is off", severity="warning")
        self._remember_theme = True
        main.engine_ready()
        self._settle_gc()  # again: the workspace, its models and the engine are long-lived too
        await self._onboard()
        self.booted.set()
        if self.start_request is not None:
            kind, target, payload = self.start_request
            if kind == "agent":
                self.start_agent(target, payload)
            else:
                self.start_workflow(target, dict(payload or {}))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast of the app (widgets' `notify` come here too) is plain, terminal-safe text.

        Toasts carry server errors, file names and workspace names: their controls are shown
        inert and their brackets are not read as markup (no toast of Paracle's uses markup).
        """
        super().notify(
            terminal_safe(str(message)),
            title=terminal_safe_line(str(title)),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def ready(self) -> bool:
        """Whether the engine is open; says so to the person when it is not yet."""
        if not self.booted.is_set():
            self.notify("Paracle is still opening the workspace.")
        return self.booted.is_set()

    async def on_unmount(self) -> None:
        try:
            if self.engine is None:
                return
            # Let a start in progress finish, so what it opened is closed below.
            if self._starting is not None:
                await asyncio.gather(self._starting, return_exceptions=True)
            # Cancel what runs, write what history has buffered, close provider clients.
            await self.engine.aclose()
        finally:
            self._restore_gc()

    def _theme_changed(self, theme: Theme) -> None:
        if self._remember_theme:
            self.run_worker(self._save_theme(theme.name), group="theme", exclusive=True)

    async def _save_theme(self, name: str) -> None:
        from paracle_engine import save_theme

        try:
            await asyncio.wait_for(asyncio.to_thread(save_theme, name), 5.0)
        except (OSError, TimeoutError) as exc:
            self.notify(f"could not remember the theme: {exc}", severity="warning")

    # ------------------------------------------------------------------ keys and onboarding

    def providers_in_use(self) -> list[str]:
        """The providers runs would call: the forced one, else each agent's."""
        forced = self.engine.forced_provider or self.engine.settings.provider
        if forced:
            return [forced]
        return sorted({a.provider for a in self.engine.agents.values()})

    async def _onboard(self) -> None:
        from paracle_engine import PROVIDERS

        from .screens.onboarding import OnboardingModal

        keys = self.engine.keys
        if keys is None:
            return
        for name in self.providers_in_use():
            info = PROVIDERS.get(name)
            if info is None or not info.needs_key or await keys.get(name):
                continue
            done: asyncio.Future[Choice | None] = asyncio.get_running_loop().create_future()
            modal = OnboardingModal(provider=name, env_var=info.key_env, keys=keys)
            self.push_screen(modal, callback=done.set_result)
            choice = await done
            if choice == "simulated":
                self.use_provider("simulated")
                return
            await self.engine.key_changed(name)

    def use_provider(self, name: str) -> None:
        """Send every agent to `name` from now on (the onboarding's "continue simulated")."""
        self.engine.use_provider(name)
        self.main.refresh_library()
        self.main.show_status()
        self.notify(f"Every agent now runs on the {name} provider.")

    def active_provider_model(self) -> tuple[str, str | None]:
        """What the status line names: the forced provider, else the last run's."""
        forced = self.engine.forced_provider or self.engine.settings.provider
        last = (
            next((r for r in reversed(self.session.runs.values()) if r.provider), None)
            if self.bridge
            else None
        )
        provider = forced or (last.provider if last and last.provider else "per agent")
        model = (last.model if last else None) or self.engine.settings.model
        return provider, model

    # ------------------------------------------------------------------ running

    def start_agent(self, agent_id: str, task: str, model: str | None = None) -> str:
        """Run an agent in a worker the app owns; returns the run id."""
        run_id = self._new_run_id()
        work = self.engine.execute_agent(agent_id, task, model=model, run_id=run_id)
        self.run_worker(self._run(work, agent_id), name=run_id, group="runs", exit_on_error=False)
        return run_id

    def start_workflow(self, name: str, inputs: dict[str, Any]) -> str:
        """Run a workflow in a worker the app owns; approvals open a dialog. Returns the run id."""
        run_id = self._new_run_id()
        work = self.engine.run_workflow(
            name, inputs, approver=self.approvals.approver(run_id), run_id=run_id
        )
        self.run_worker(self._run(work, name), name=run_id, group="runs", exit_on_error=False)
        return run_id

    def _new_run_id(self) -> str:
        assert self.run_ids is not None, "run ids are set as the engine opens"
        return self.run_ids()

    async def _run(self, work: Any, target: str) -> None:
        try:
            await work
        except ParacleError as exc:
            self.notify(exc.one_line(), title=f"{target} failed", severity="error", timeout=8)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, not the person's doing: say so in one line
            self.notify(one_line(exc), title=f"{target} failed", severity="error")

    def _run_label(self, run_id: str) -> str:
        run = self.session.runs.get(run_id)
        return f"Workflow {run.target}" if run else "A workflow"

    # ------------------------------------------------------------------ requests from screens

    @on(msg.RunSelected)
    def _run_selected(self) -> None:
        """Run the highlighted agent or workflow (opens its form)."""
        if not self.ready():
            return
        item = self.main.highlighted_item
        if item is None:
            self.notify("Highlight an agent or a workflow first.")
            return
        kind, name = item
        if kind == "agent":
            self.open_agent_form(name)
        else:
            self.open_workflow_form(name)

    @on(msg.RunAgentRequested)
    def _run_agent(self, message: msg.RunAgentRequested) -> None:
        self.open_agent_form(message.agent_id, message.task)

    @on(msg.RunWorkflowRequested)
    def _run_workflow(self, message: msg.RunWorkflowRequested) -> None:
        self.open_workflow_form(message.name, message.values)

    def open_agent_form(self, agent_id: str | None = None, task: str = "") -> None:
        """The task form of an agent; what it returns runs."""
        if not self.ready():
            return
        from .screens.run_agent import AgentRequest, RunAgentForm

        def chosen(request: AgentRequest | None) -> None:
            if request is not None:
                self.start_agent(request.agent_id, request.task, request.model)

        if not self.engine.agents:
            self.notify("This workspace has no agents.", severity="warning")
            return
        form = RunAgentForm(
            self.engine.agents, agent_id=agent_id, task=task, route=self.engine.plan
        )
        self.push_screen(form, chosen)

    def open_workflow_form(
        self, name: str | None = None, values: dict[str, Any] | None = None
    ) -> None:
        """The inputs form of a workflow; what it returns runs."""
        if not self.ready():
            return
        from .screens.run_workflow import RunWorkflowForm

        name = name or next(iter(self.engine.workflows), None)
        if name is None:
            self.notify("This workspace has no workflows.", severity="warning")
            return
        try:
            spec = self.main.workflow_spec(name)
        except ParacleError as exc:
            self.notify(exc.one_line(), title=f"{name} cannot run", severity="error", timeout=8)
            return
        workflow = name

        def chosen(inputs: dict[str, Any] | None) -> None:
            if inputs is not None:
                self.start_workflow(workflow, inputs)

        self.push_screen(RunWorkflowForm(spec, values=values), chosen)

    @on(msg.CancelSelected)
    def _cancel_selected(self) -> None:
        """Cancel the run the main screen shows."""
        if not self.ready():
            return
        run = self.main.selected_run
        if run is None or not run.active:
            self.notify("No running run is selected.")
            return
        self.engine.cancel(run.run_id)

    @on(msg.CancelAll)
    def _cancel_all(self) -> None:
        if not self.ready():
            return
        count = self.engine.cancel_all()
        self.notify(
            f"Cancelled {count} run{'s' if count != 1 else ''}." if count else "Nothing is running."
        )

    @on(msg.RetrySelected)
    def _retry_selected(self) -> None:
        """Run the selected run again: a workflow resumes from its completed steps."""
        if not self.ready():
            return
        run = self.main.selected_run
        if run is None:
            self.notify("Select a run to retry.")
            return
        if run.active:
            self.notify("That run is still running.")
            return
        if run.kind == "agent":
            self.start_agent(run.target, run.task or "")
        elif run.status != "completed" and self.runs is not None:
            work = self.engine.resume_workflow(
                run.run_id, approver=self.approvals.approver(run.run_id)
            )
            self.run_worker(
                self._run(work, run.target), name=run.run_id, group="runs", exit_on_error=False
            )
        else:
            self.start_workflow(run.target, dict(run.inputs))

    @on(msg.ApprovePending)
    def _approve_pending(self) -> None:
        """Bring back the approval dialog of a step waiting in the selected run."""
        if not self.ready():
            return
        run = self.main.selected_run
        waiting = self.approvals.waiting(run.run_id if run else None) or self.approvals.waiting()
        if not waiting:
            self.notify("No step is waiting for approval.")
            return
        self.approvals.ask(*waiting[0])

    @on(msg.NewAgentRequested)
    def _new_agent(self, message: msg.NewAgentRequested) -> None:
        self.open_agent_editor(base=message.base)

    def open_agent_editor(self, base: str | None = None) -> None:
        """The agent editor on a new agent, based on the agent `base` when given."""
        if not self.ready():
            return
        from .screens.agent_editor import AgentEditor

        base_spec = self.engine.agents.get(base) if base else None
        self.push_screen(
            AgentEditor(self.engine.agents, self.engine.save_agent, base=base_spec),
            self._agent_saved,
        )

    @on(msg.EditAgentRequested)
    def _edit_agent(self) -> None:
        """Edit the highlighted saved agent, or start a new one based on a workspace agent."""
        if not self.ready():
            return
        from .screens.agent_editor import AgentEditor

        item = self.main.highlighted_item
        if item is None or item[0] != "agent":
            self.notify("Highlight an agent to edit.")
            return
        spec = self.engine.agents[item[1]]
        if spec.origin != "saved":
            self.open_agent_editor(base=spec.id)
            return
        self.push_screen(
            AgentEditor(self.engine.agents, self.engine.save_agent, editing=spec),
            self._agent_saved,
        )

    @on(msg.DeleteAgentRequested)
    def _delete_highlighted_agent(self) -> None:
        """Delete the highlighted agent if it was saved in the app."""
        if not self.ready():
            return
        item = self.main.highlighted_item
        spec = self.engine.agents.get(item[1]) if item and item[0] == "agent" else None
        if spec is None or spec.origin != "saved":
            self.notify("Highlight an agent saved in the app to delete it.")
            return
        self.run_worker(self._delete_agent(spec.id), group="agents", exit_on_error=False)

    async def _delete_agent(self, agent_id: str) -> None:
        try:
            await self.engine.delete_agent(agent_id)
        except ParacleError as exc:
            self.notify(exc.one_line(), severity="error")
            return
        self.main.refresh_library()
        self.notify(f"Deleted agent {agent_id}.")

    def _agent_saved(self, agent_id: str | None) -> None:
        if agent_id is not None:
            self.main.refresh_library(keep=f"agent:{agent_id}")
            self.notify(f"Saved agent {agent_id}.")

    @on(msg.CopyPaneRequested)
    def _copy_pane(self) -> None:
        # From a palette opened over another screen too: the main screen's large pane.
        self.main.copy_pane()

    @on(msg.UseProviderRequested)
    def _use_provider(self, message: msg.UseProviderRequested) -> None:
        if self.ready():
            self.use_provider(message.name)

    @on(msg.OpenHelp)
    def _open_help(self) -> None:
        self.action_help()

    @on(msg.OpenHistory)
    def _open_history(self) -> None:
        self.action_history()

    @on(msg.OpenKeys)
    def _open_keys(self) -> None:
        self.action_keys()

    # ------------------------------------------------------------------ the app's own keys

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_history(self) -> None:
        if not self.ready():
            return
        from .screens.history import HistoryScreen

        runs = self.runs
        if runs is None:
            self.notify("History is off for this session.", severity="warning")
            return
        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen(runs, open_run=self.open_recorded_run))

    def open_recorded_run(self, run_id: str) -> None:
        from .screens.run_detail import RunDetailScreen

        self.push_screen(RunDetailScreen(self.runs, run_id))

    def action_keys(self) -> None:
        if not self.ready():
            return
        from .screens.keys import KeysScreen

        if self.engine.keys is None:
            self.notify("No key store in this session.", severity="warning")
            return
        if not isinstance(self.screen, KeysScreen):
            used: dict[str, int] = {}
            for agent in self.engine.agents.values():  # the providers the agents name
                used[agent.provider] = used.get(agent.provider, 0) + 1
            keys = KeysScreen(self.engine.keys, used_by=used, on_changed=self.engine.key_changed)
            self.push_screen(keys)


def _import_for_boot() -> None:
    """What the boot needs, imported off the loop: the engine module and the bridge's events."""
    from paracle_engine import Engine  # noqa: F401

    from . import bridge  # noqa: F401


def build_app(args: argparse.Namespace, start: Start = None) -> ParacleApp:
    """The app for the command line's options (workspace, provider); the engine opens later."""

    def open_engine() -> Engine:
        from paracle_engine import Engine, KeyStore, load_workspace

        from .commands._engine import load_settings_for

        workspace = getattr(args, "workspace", None)
        return Engine(
            load_workspace(Path(workspace) if workspace else None),
            settings=load_settings_for(args),
            provider=getattr(args, "provider", None),
            keys=KeyStore(),
            history=True,
        )

    return ParacleApp(open_engine, start=start)


async def run_app_async(args: argparse.Namespace, start: Start = None) -> int:
    """Run the app on the running loop (from a command that is a coroutine)."""
    app = build_app(args, start)
    await app.run_async()
    return app.return_code or 0


def run_app(args: argparse.Namespace, start: Start = None) -> int:
    """Open the app for the command line: `paracle`, `paracle run ... --tui`, `workflow run --tui`.

    `start` is None, ("agent", agent_id, task) or ("workflow", name, inputs) to start at once.
    Blocks until the app quits; inside a running loop, await `run_app_async` instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_app_async(args, start))
    raise RuntimeError("run_app blocks; from a coroutine, `await run_app_async(args, start)`")
