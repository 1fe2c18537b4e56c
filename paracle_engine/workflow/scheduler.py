"""The ready-queue workflow scheduler.

A step starts the moment its own dependencies are done (never level by level), bounded by the
run's concurrency limit. Step tasks live in one TaskGroup, so none outlives its run. The
scheduler publishes each step's pending and skipped, and through `RunLifecycle` the run's
start and end and each step's failed and cancelled; one step's own course (attempts, retries, approval, outputs) is `workflow.step`.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from paracle_engine.errors import (
    BadInputError,
    OperationTimeoutError,
)
from paracle_engine.events import (
    EventBus,
    StepPending,
    StepSkipped,
)
from paracle_engine.lifecycle import RunLifecycle
from paracle_engine.models import (
    AgentSpec,
    RunStatus,
    StepResult,
    StepStatus,
    Usage,
    WorkflowResult,
    WorkflowSpec,
)
from paracle_engine.prompts import describe_outputs
from paracle_engine.templates import (
    Context,
    TemplateError,
    evaluate,
)
from paracle_engine.workflow.inputs import resolve_inputs
from paracle_engine.workflow.step import Approver, StepCaller, StepRun, run_step
from paracle_engine.workflow.validate import Graph, dependency_graph, validate_workflow

_FINISHED = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.FAILED, StepStatus.CANCELLED)


class WorkflowRunner:
    """Runs one workflow: `await WorkflowRunner(spec, ...).run()` -> WorkflowResult.

    `prior` holds steps completed by an earlier run of the same workflow (resume): they are
    not run again, their outputs feed templates, and the run keeps `run_id`. `executor` is
    anything with the Executor's `call` signature. Raises ValidationError or BadInputError
    before anything runs, and CancelledError (after publishing RunCancelled) when cancelled.
    """

    def __init__(
        self,
        spec: WorkflowSpec,
        *,
        agents: Mapping[str, AgentSpec],
        executor: StepCaller,
        bus: EventBus,
        inputs: Mapping[str, Any] | None = None,
        approver: Approver | None = None,
        max_concurrency: int | None = None,
        run_id: str | None = None,
        prior: Mapping[str, StepResult] | None = None,
        notes: Mapping[str, str] | None = None,
        timeout: float | None = None,
        retry_delay: float = 0.5,
        validate: bool = True,
    ) -> None:
        self.spec = spec
        self.agents = agents
        self.executor = executor
        self.bus = bus
        self.given_inputs = dict(inputs or {})
        self.approver = approver
        self.run_id = run_id or uuid.uuid4().hex
        self.lifecycle = RunLifecycle(bus, self.run_id)
        self.prior = dict(prior or {})
        # On resume: why a step cut short runs again from its start (see StepPending.note).
        self.notes = dict(notes or {})
        self.timeout = timeout if timeout is not None else spec.settings.timeout
        self.retry_delay = retry_delay
        self.validate = validate
        if max_concurrency is not None and max_concurrency < 1:
            raise BadInputError(
                f"max concurrency must be 1 or more, not {max_concurrency}",
                hint="pass --max-concurrency 1 or more",
            )
        par = spec.settings.parallel_execution
        self.limit = max_concurrency or (max(1, par.max_concurrent) if par.enabled else 1)
        self.steps = {s.id: s for s in spec.steps}
        self.results: dict[str, StepResult] = {}
        self.inputs: dict[str, Any] = {}
        self.graph = Graph({}, {}, [], set())
        self._stopping = False
        self._first_error: str | None = None
        self._blocked_by: dict[str, str] = {}
        self._failures = 0
        self._on_awaiting_approval: Callable[[str], None] = lambda sid: None

    # ---------------------------------------------------------------- the run

    async def run(self) -> WorkflowResult:
        """Run every step and return the result; see the class docstring for what raises."""
        spec = self.spec
        graph = None
        if self.validate:
            report = validate_workflow(spec, self.agents)
            report.raise_for_errors()
            graph = report.graph
        self.inputs = resolve_inputs(spec, self.given_inputs)
        graph = graph or dependency_graph(spec)
        self.graph = graph
        for sid in graph.deps:
            done = self.prior.get(sid)
            if done is not None and done.status == StepStatus.COMPLETED:
                self.results[sid] = done
            else:
                self.results[sid] = StepResult(step_id=sid)
        self.lifecycle.started(
            kind="workflow",
            target=spec.name,
            edges=graph.deps,
            inputs=self.inputs,
            source=spec.source.file,
            resumed=bool(self.prior),
        )
        for sid, deps in graph.deps.items():
            if self.results[sid].status == StepStatus.PENDING:
                self.bus.publish(
                    StepPending(
                        run_id=self.run_id,
                        step_id=sid,
                        agent=self.steps[sid].agent,
                        depends_on=list(deps),
                        note=self.notes.get(sid, ""),
                    )
                )
        try:
            async with asyncio.timeout(self.timeout):
                await self._schedule()
        except TimeoutError:
            self._cancel_pending()
            error = OperationTimeoutError(
                "workflow", self.timeout or 0, what=f"workflow {spec.name}"
            )
            return self._finish(error.one_line())
        except asyncio.CancelledError:
            self._cancel_pending()
            self.lifecycle.cancelled(self._usage())
            raise
        return self._finish(self._first_error)

    def _finish(self, error: str | None) -> WorkflowResult:
        outputs = self._workflow_outputs()
        failed = error is not None or any(
            r.status in (StepStatus.FAILED, StepStatus.CANCELLED) for r in self.results.values()
        )
        status = RunStatus.FAILED if failed else RunStatus.COMPLETED
        result = WorkflowResult(
            run_id=self.run_id,
            workflow=self.spec.name,
            status=status,
            outputs=outputs,
            steps=self.results,
            error=error,
        )
        if failed:
            self.lifecycle.failed(error or "a step did not finish", result.usage)
        else:
            last = next(
                (
                    r.output
                    for r in reversed(self.results.values())
                    if r.status == StepStatus.COMPLETED
                ),
                "",
            )
            self.lifecycle.completed(last, result.usage, outputs)
        return result

    async def _schedule(self) -> None:
        graph = self.graph
        height = self._heights()
        index = {sid: i for i, sid in enumerate(graph.deps)}
        waiting: dict[str, int] = {}
        ready: list[tuple[int, int, str]] = []
        for sid, deps in graph.deps.items():
            if self.results[sid].status != StepStatus.PENDING:
                continue
            waiting[sid] = sum(1 for d in deps if self.results[d].status == StepStatus.PENDING)
        running: dict[str, asyncio.Task[None]] = {}
        # Steps waiting for a person hold no slot: the limit is on steps calling a model.
        awaiting: set[str] = set()
        all_done = asyncio.Event()

        def release(sid: str) -> None:
            # Free the dependants of a finished step; a blocked one is skipped at once.
            stack = [sid]
            while stack:
                for nxt in graph.dependants[stack.pop()]:
                    if nxt not in waiting:
                        continue
                    waiting[nxt] -= 1
                    if waiting[nxt]:
                        continue
                    root = self._failed_dependency(nxt) if self._failures else None
                    if root is None:
                        heapq.heappush(ready, (-height[nxt], index[nxt], nxt))
                    else:
                        self._skip(nxt, f"skipped because step '{root}' failed")
                        self._blocked_by[nxt] = root
                        stack.append(nxt)

        def launch() -> None:
            while ready and len(running) - len(awaiting) < self.limit and not self._stopping:
                sid = heapq.heappop(ready)[2]
                try:
                    running[sid] = tg.create_task(self._step(sid, on_step_end), name=sid)
                except RuntimeError:  # the group is shutting down: the run is being cancelled
                    self._stopping = True

        def on_step_end(sid: str) -> None:
            # Runs in the finishing step's own task, so a dependant starts without a loop turn.
            running.pop(sid, None)
            awaiting.discard(sid)
            status = self.results[sid].status
            me = asyncio.current_task()
            if status == StepStatus.CANCELLED or (me is not None and me.cancelling()):
                pass
            elif status == StepStatus.FAILED and self.spec.on_failure == "fail_fast":
                self._stop(running)
                # A cancelled task that never started never reports back: stop waiting now;
                # the TaskGroup still waits for every task before the run ends.
                running.clear()
            elif not self._stopping:
                release(sid)
                launch()
            if not running:
                all_done.set()

        def on_awaiting_approval(sid: str) -> None:
            awaiting.add(sid)
            launch()

        self._on_awaiting_approval = on_awaiting_approval
        for sid, n in waiting.items():
            if n == 0:
                heapq.heappush(ready, (-height[sid], index[sid], sid))
        async with asyncio.TaskGroup() as tg:
            launch()
            if running:
                await all_done.wait()
        self._cancel_pending()

    def _stop(self, running: Mapping[str, asyncio.Task[None]]) -> None:
        # fail_fast: cancel what runs; what never started is marked cancelled afterwards.
        self._stopping = True
        for task in running.values():
            task.cancel()

    def _failed_dependency(self, sid: str) -> str | None:
        for dep in self.graph.deps[sid]:
            if self.results[dep].status == StepStatus.FAILED:
                return dep
            if dep in self._blocked_by:
                return self._blocked_by[dep]
        return None

    def _heights(self) -> dict[str, int]:
        # Longest chain of dependants below each step: the ready queue starts long chains first.
        height: dict[str, int] = {}
        for sid in reversed(self.graph.order):
            below = self.graph.dependants[sid]
            height[sid] = 1 + max((height[d] for d in below), default=0)
        for sid in self.graph.deps:
            height.setdefault(sid, 1)
        return height

    def _cancel_pending(self) -> None:
        for res in self.results.values():
            if res.status in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.AWAITING_APPROVAL):
                self.lifecycle.step_cancelled(res)

    def _skip(self, sid: str, reason: str) -> None:
        res = self.results[sid]
        res.status = StepStatus.SKIPPED
        res.reason = reason
        res.ended_at = time.time()
        self.bus.publish(
            StepSkipped(run_id=self.run_id, step_id=sid, reason=reason, ts=res.ended_at)
        )

    def _usage(self) -> Usage:
        total = Usage()
        for res in self.results.values():
            total = total + res.usage
        return total

    # ---------------------------------------------------------------- one step

    def context(self, sid: str | None) -> Context:
        """What templates of step `sid` (or the workflow outputs, for None) resolve against."""

        def step_output(ref: str) -> tuple[bool, str, Mapping[str, Any]] | None:
            res = self.results.get(ref)
            if res is None or res.status not in _FINISHED:
                return None
            return res.status == StepStatus.COMPLETED, res.output, res.outputs

        def all_steps() -> str:
            wanted = self._ancestors(sid) if sid is not None else set(self.results)
            return describe_outputs(
                [
                    (r.step_id, r.output, r.outputs)
                    for r in self.results.values()
                    if r.step_id in wanted and r.status == StepStatus.COMPLETED
                ]
            )

        return Context(self.inputs, step_output, all_steps)

    def _ancestors(self, sid: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.graph.deps[sid])
        while stack:
            dep = stack.pop()
            if dep not in seen:
                seen.add(dep)
                stack.extend(self.graph.deps[dep])
        return seen

    async def _step(self, sid: str, on_end: Callable[[str], None]) -> None:
        res = self.results[sid]
        run = StepRun(
            step=self.steps[sid],
            result=res,
            run_id=self.run_id,
            spec=self.spec,
            agents=self.agents,
            caller=self.executor,
            bus=self.bus,
            approver=self.approver,
            retry_delay=self.retry_delay,
            context=lambda: self.context(sid),
            skip=lambda reason: self._skip(sid, reason),
            fail=lambda error: self._fail(res, error),
            awaiting_approval=lambda: self._on_awaiting_approval(sid),
        )
        try:
            await run_step(run)
        finally:
            on_end(sid)

    def _fail(self, res: StepResult, error: str) -> None:
        self._failures += 1
        if self._first_error is None:
            self._first_error = f"step {res.step_id} failed: {error}"
        self.lifecycle.step_failed(res, error)

    # ---------------------------------------------------------------- outputs

    def _workflow_outputs(self) -> dict[str, Any]:
        ctx = self.context(None)
        out: dict[str, Any] = {}
        for name, spec in self.spec.outputs.items():
            try:
                if spec.source:
                    src = spec.source.strip()
                    out[name] = evaluate(src if "{{" in src else "{{ " + src + " }}", ctx)
                elif isinstance(spec.value, str):
                    out[name] = evaluate(spec.value, ctx)
                else:
                    out[name] = spec.value
            except TemplateError:
                out[name] = None
            if out[name] is None:
                out[name] = ""
        return out
