"""The Engine facade a front holds: one workspace, one bus, providers, resilience, history."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paracle_engine.config import Settings, load_settings
from paracle_engine.errors import BadInputError, ParacleError, one_line
from paracle_engine.events import (
    EventBus,
    HistoryStatus,
    TextDelta,
)
from paracle_engine.executor import Executor, StepCall
from paracle_engine.lifecycle import RunLifecycle
from paracle_engine.models import (
    AgentRunResult,
    AgentSpec,
    RunStatus,
    StepResult,
    StepStatus,
    WorkflowResult,
    WorkflowSpec,
)
from paracle_engine.resilience.policy import ResiliencePolicy

if TYPE_CHECKING:
    from paracle_engine.history import History
    from paracle_engine.history.runs import RunRepository
    from paracle_engine.secrets import KeyStore
    from paracle_engine.workspace.loader import WorkflowEntry, Workspace


def new_run_id() -> str:
    """A readable, time-sortable run id: 20261128-052301-a1b2c3."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class _KeysNeverStored:
    """Hands keys to the providers and tells the history writer to redact each one it saw."""

    def __init__(self, source: KeyStore, engine: Engine) -> None:
        self._source = source
        self._engine = engine

    async def get(self, provider: str) -> str | None:
        key = await self._source.get(provider)
        history = self._engine.history
        if key and history is not None and history.writer is not None:
            history.writer.add_secret(key)
        return key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)


@dataclass(slots=True)
class AgentTask:
    """One entry of `run_agent_group`."""

    agent: str
    task: str
    model: str | None = None


class Engine:
    """Runs agents and workflows of one workspace and publishes every state change on `bus`.

    Use as `async with Engine(workspace) as engine:`; the fronts never talk to a provider or
    to the history database directly.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        settings: Settings | None = None,
        provider: str | None = None,
        keys: KeyStore | None = None,
        bus: EventBus | None = None,
        history: bool = False,
    ) -> None:
        from paracle_engine.providers.registry import ProviderRegistry

        self.workspace = workspace
        self.settings = settings or Settings()
        self.bus = bus or EventBus()
        self.keys = keys
        self.providers = ProviderRegistry(
            self.settings,
            _KeysNeverStored(keys, self) if keys is not None else None,
            force_provider=provider or self.settings.provider,
            simulated_pace=self.settings.simulated_pace,
        )
        self.policy = ResiliencePolicy(self.settings, self.bus)
        self.executor = Executor(providers=self.providers, policy=self.policy, bus=self.bus)
        self.history_enabled = history
        self.history: History | None = None
        # Why history is off when it was asked for (the database could not be opened).
        self.history_error: str | None = None
        self._saved: dict[str, AgentSpec] = {}
        self._runs: dict[str, asyncio.Task[Any]] = {}
        self._start_lock: asyncio.Lock | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Engine:
        """Open the history (when asked for). Safe to call more than once, even concurrently."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            await self._open_history()
        return self

    async def _open_history(self) -> None:
        if self.history_enabled and self.history is None and self.history_error is None:
            from paracle_engine.history import open_history

            try:
                self.history = await open_history(self.bus)
                self._saved = {a.id: a for a in await self.history.agents.list()}
            except ParacleError as exc:
                # Runs still work without history; the fronts show why it is off.
                self.history = None
                self.history_error = exc.one_line()
                self.bus.publish(HistoryStatus(run_id="", ok=False, error=self.history_error))

    async def aclose(self) -> None:
        """Cancel what still runs, flush history, close every provider client."""
        self.cancel_all()
        pending = [t for t in self._runs.values() if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            if self.history is not None:
                await self.history.aclose()
                self.history = None
        finally:
            await self.providers.aclose()
            await self.bus.aclose()

    async def __aenter__(self) -> Engine:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ lookups

    @property
    def agents(self) -> Mapping[str, AgentSpec]:
        """The workspace's agents, then the ones saved in the app (a workspace id wins)."""
        if not self._saved:
            return self.workspace.agents
        merged = dict(self.workspace.agents)
        for agent_id, spec in self._saved.items():
            merged.setdefault(agent_id, spec)
        return merged

    def agent(self, agent_id: str) -> AgentSpec:
        saved = self._saved.get(agent_id)
        if saved is not None and agent_id not in self.workspace.agents:
            return saved
        return self.workspace.agent(agent_id)

    @property
    def runs(self) -> RunRepository:
        """The run history (a RunRepository); needs an engine opened with history."""
        if self.history is None:
            raise ParacleError("history is off in this session")
        return self.history.runs

    async def save_agent(self, spec: AgentSpec) -> AgentSpec:
        """Create or replace an agent made in the app; it is stored in the history database.

        A parent named by the agent must exist; the parent's tools and skills are inherited
        as in the workspace, and its system prompt is used when the agent gives none.
        """
        if self.history is None:
            raise ParacleError("saving agents needs the history database, which is off")
        if spec.id in self.workspace.agents:
            raise BadInputError(
                f"agent '{spec.id}' is defined by the workspace", hint="choose another id"
            )
        data = spec.model_dump()
        lineage: list[str] = []
        if spec.parent:
            parent = self.agent(spec.parent)
            lineage = [parent.id, *parent.lineage]
            data["tools"] = list(dict.fromkeys([*parent.tools, *spec.tools]))
            data["skills"] = list(dict.fromkeys([*parent.skills, *spec.skills]))
            if not spec.system_prompt.strip():
                data["system_prompt"] = parent.system_prompt
        data.update(origin="saved", lineage=lineage)
        saved = await self.history.agents.save(AgentSpec.model_validate(data))
        self._saved[saved.id] = saved
        return saved

    async def delete_agent(self, agent_id: str) -> bool:
        """Delete an agent made in the app; workspace agents are edited in their files."""
        if agent_id not in self._saved:
            raise BadInputError(f"'{agent_id}' is not an agent saved in the app")
        if self.history is None:
            raise ParacleError("deleting agents needs the history database, which is off")
        del self._saved[agent_id]
        return await self.history.agents.delete(agent_id)

    def workflow(self, name_or_file: str | WorkflowSpec) -> WorkflowSpec:
        """The workflow named (or in the file named) in the workspace, loaded and checked."""
        if isinstance(name_or_file, WorkflowSpec):
            return name_or_file
        return self.workspace.load_workflow(name_or_file)

    load_workflow = workflow

    @property
    def workflows(self) -> Mapping[str, WorkflowEntry]:
        """The workspace's workflows by name, not yet loaded (name, file, description)."""
        return self.workspace.workflows

    @property
    def warnings(self) -> Sequence[str]:
        """What loading the workspace noticed but did not refuse."""
        return self.workspace.warnings

    def plan(self, agent: AgentSpec) -> tuple[str, str]:
        """The provider name and model a call of `agent` would use now."""
        return self.executor.plan(agent)

    @property
    def forced_provider(self) -> str | None:
        """The provider every agent's calls go to (`use_provider`), or None: each its own."""
        return self.providers.force_provider

    def use_provider(self, name: str | None) -> None:
        """From now on send every agent's calls to provider `name` (None: each agent's own)."""
        from paracle_engine.providers.catalog import PROVIDERS

        if name is not None and name not in PROVIDERS:
            raise BadInputError(
                f"unknown provider '{name}'", hint=f"known: {', '.join(sorted(PROVIDERS))}"
            )
        self.providers.force_provider = name

    async def key_changed(self, provider: str) -> None:
        """Drop cached clients of `provider` so the next call reads its new key."""
        await self.providers.forget(provider)

    # ------------------------------------------------------------------ cancellation

    def cancel(self, run_id: str) -> bool:
        """Cancel one run; True if it was running."""
        task = self._runs.get(run_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def cancel_all(self) -> int:
        count = 0
        for run_id in list(self._runs):
            count += self.cancel(run_id)
        return count

    def running(self) -> list[str]:
        return [r for r, t in self._runs.items() if not t.done()]

    def _track(self, run_id: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._runs[run_id] = task

    # ------------------------------------------------------------------ agents

    async def execute_agent(
        self,
        agent_id: str,
        task: str,
        *,
        model: str | None = None,
        run_id: str | None = None,
    ) -> AgentRunResult:
        """Run one agent on one task and return its whole answer.

        The run is a run with one step whose id is the agent id. Raises the engine's error
        after publishing StepFailed/RunFailed, or CancelledError after StepCancelled/RunCancelled.
        """
        if not task.strip():
            raise BadInputError("the task is empty", hint="give a task with --task TEXT")
        agent = self.agent(agent_id)
        run_id = run_id or new_run_id()
        executor = self.executor
        if model:
            executor = Executor(
                providers=self.providers, policy=self.policy, bus=self.bus, model_override=model
            )
        provider, model_used = executor.plan(agent)
        lifecycle = RunLifecycle(self.bus, run_id)
        lifecycle.started(
            kind="agent",
            target=agent.id,
            edges={agent.id: []},
            task=task,
            provider=provider,
            model=model_used,
        )
        self._track(run_id)
        step = StepResult(step_id=agent.id, status=StepStatus.RUNNING, attempts=1)
        step.started_at = time.time()
        text: list[str] = []
        try:
            result = await executor.call(
                StepCall(run_id=run_id, step_id=agent.id, agent=agent, prompt=task, text=text)
            )
        except asyncio.CancelledError:
            step.output = "".join(text)
            lifecycle.step_cancelled(step)
            lifecycle.cancelled(step.usage)
            raise
        except Exception as exc:
            message = one_line(exc)
            step.output = "".join(text)
            lifecycle.step_failed(step, message)
            lifecycle.failed(message, step.usage)
            raise
        finally:
            self._runs.pop(run_id, None)
        step.output, step.usage = result.text, result.usage
        lifecycle.step_completed(step)
        lifecycle.completed(result.text, result.usage)
        return AgentRunResult(
            run_id=run_id,
            agent=agent.id,
            provider=result.provider,
            model=result.model,
            output=result.text,
            usage=result.usage,
        )

    async def stream_agent_response(
        self, agent_id: str, task: str, *, model: str | None = None
    ) -> AsyncIterator[str]:
        """Yield the agent's answer as it arrives; errors are raised at the end of the text."""
        run_id = new_run_id()
        done = object()
        queue: asyncio.Queue[Any] = asyncio.Queue()

        def on_text(event: Any) -> None:
            if event.run_id == run_id:
                queue.put_nowait(event.text)

        unsubscribe = self.bus.subscribe(on_text, TextDelta)
        runner = asyncio.get_running_loop().create_task(
            self.execute_agent(agent_id, task, model=model, run_id=run_id)
        )
        runner.add_done_callback(lambda _: queue.put_nowait(done))
        try:
            while (item := await queue.get()) is not done:
                yield item
            await runner
        finally:
            unsubscribe()
            if not runner.done():
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)

    async def run_agent_group(
        self, tasks: Sequence[AgentTask], *, max_concurrency: int | None = None
    ) -> list[AgentRunResult | BaseException]:
        """Run several agents at once, at most `max_concurrency` together.

        Results come back in input order; one failure does not cancel the others (its
        exception takes its place in the list). Cancelling the group cancels every member.
        """
        limit = asyncio.Semaphore(max_concurrency or self.settings.max_concurrency)

        async def one(item: AgentTask) -> AgentRunResult:
            async with limit:
                return await self.execute_agent(item.agent, item.task, model=item.model)

        return await asyncio.gather(*(one(t) for t in tasks), return_exceptions=True)

    # ------------------------------------------------------------------ workflows

    async def resume_workflow(
        self, run_id: str, *, approver: Any = None, max_concurrency: int | None = None
    ) -> WorkflowResult:
        """Run again only the steps of a stopped run that did not complete, in the same run."""
        state = await self.runs.load_resume_state(run_id)
        source = state.source or state.workflow
        try:
            spec = self.workflow(source)
        except ParacleError:
            spec = self.workflow(state.workflow)
        return await self.run_workflow(
            spec,
            state.inputs,
            approver=approver,
            max_concurrency=max_concurrency,
            run_id=state.run_id,
            prior=state.completed,
            notes=state.notes,
        )

    async def run_workflow(
        self,
        workflow: str | WorkflowSpec,
        inputs: Mapping[str, Any] | None = None,
        *,
        approver: Any = None,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        prior: Mapping[str, Any] | None = None,
        notes: Mapping[str, str] | None = None,
    ) -> WorkflowResult:
        """Validate and run a workflow; see paracle_engine.workflow for the semantics.

        On resume, `notes` say why steps cut short run again from their start."""
        from paracle_engine.workflow import WorkflowRunner

        spec = self.workflow(workflow)
        run_id = run_id or new_run_id()
        runner = WorkflowRunner(
            spec,
            agents=self.agents,
            executor=self.executor,
            bus=self.bus,
            inputs=dict(inputs or {}),
            approver=approver,
            max_concurrency=max_concurrency,
            run_id=run_id,
            prior=dict(prior) if prior else None,
            notes=notes,
        )
        self._track(run_id)
        try:
            return await runner.run()
        finally:
            self._runs.pop(run_id, None)


async def open_engine(
    *,
    workspace: str | Path | None = None,
    provider: str | None = None,
    history: bool = False,
    settings: Settings | None = None,
) -> Engine:
    """Load the workspace and settings and start an Engine (close it with `aclose`)."""
    from paracle_engine.secrets import KeyStore
    from paracle_engine.workspace.loader import load_workspace

    settings = settings or load_settings()
    ws = load_workspace(
        Path(workspace) if workspace else None,
        max_file_bytes=settings.workspace.max_file_bytes,
    )
    engine = Engine(
        ws,
        settings=settings,
        provider=provider,
        keys=KeyStore(),
        history=history,
    )
    return await engine.start()


def run_agent_sync(
    agent_id: str,
    task: str,
    *,
    workspace: str | Path | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> AgentRunResult:
    """Run one agent from synchronous code (scripts, the REPL). Not for use inside a loop."""

    async def main() -> AgentRunResult:
        engine = await open_engine(workspace=workspace, provider=provider)
        try:
            return await engine.execute_agent(agent_id, task, model=model)
        finally:
            await engine.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    raise RuntimeError(
        "run_agent_sync cannot be called from a running event loop; await Engine.execute_agent"
    )


__all__ = ["AgentTask", "Engine", "RunStatus", "new_run_id", "open_engine", "run_agent_sync"]
