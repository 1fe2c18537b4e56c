"""The ready-queue workflow scheduler.

A step starts the moment its own dependencies are done (never level by level), bounded by the
run's concurrency limit. Step tasks live in one TaskGroup, so none outlives its run. The
scheduler publishes every step state change the executor does not (pending, retrying,
approvals, completed, failed, skipped, cancelled) and the run's start and end.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from paracle_engine.errors import (
    AuthenticationError,
    BadInputError,
    OperationTimeoutError,
    ParacleError,
)
from paracle_engine.events import (
    EventBus,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepApprovalDecided,
    StepAwaitingApproval,
    StepCancelled,
    StepCompleted,
    StepFailed,
    StepPending,
    StepRetrying,
    StepSkipped,
)
from paracle_engine.models import (
    AgentSpec,
    CompletionResult,
    RunStatus,
    StepConfig,
    StepResult,
    StepSpec,
    StepStatus,
    Usage,
    WorkflowResult,
    WorkflowSpec,
)
from paracle_engine.prompts import build_prompt, describe_outputs, parse_outputs
from paracle_engine.templates import (
    Context,
    TemplateError,
    evaluate,
    evaluate_condition,
    evaluate_value,
    render,
)
from paracle_engine.workflow.inputs import resolve_inputs
from paracle_engine.workflow.validate import Graph, dependency_graph, validate_workflow

_FINISHED = (StepStatus.COMPLETED, StepStatus.SKIPPED, StepStatus.FAILED, StepStatus.CANCELLED)


class StepCaller(Protocol):
    """Calls one agent for one step attempt: the Executor, or a stand-in in tests and benches."""

    async def call(
        self,
        *,
        run_id: str,
        step_id: str,
        agent: AgentSpec,
        prompt: str,
        config: StepConfig | None = None,
        output_keys: Sequence[str] = (),
        attempt: int = 1,
        text: list[str] | None = None,
    ) -> CompletionResult: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's verdict on a step's answer."""

    approved: bool
    note: str | None = None


#: Asked after a step that needs approval has answered: `await approver(step_id, output)`.
Approver = Callable[[str, str], Awaitable[Decision]]


_NO_CONTEXT = Context({}, lambda ref: None)


class _StepFailure(Exception):
    """Ends a step as failed; `retry` says whether its retry policy may run it again."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


def needs_approval(step: StepSpec) -> bool:
    """`requires_approval: true` or `validation: {must_approve: true}`."""
    return step.requires_approval or step.validation.get("must_approve") is True


def max_attempts(step: StepSpec, spec: WorkflowSpec) -> int:
    """The step's own retry.max_attempts, else the workflow's default retries plus one."""
    if step.retry is not None:
        return max(1, step.retry.max_attempts)
    settings = spec.settings
    retries = settings.max_retries if settings.max_retries > 0 else int(settings.retry_on_failure)
    return 1 + retries


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
        self.prior = dict(prior or {})
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
        publish = self.bus.publish
        publish(
            RunStarted(
                run_id=self.run_id,
                kind="workflow",
                target=spec.name,
                inputs=self.inputs,
                step_ids=list(graph.deps),
                edges={k: list(v) for k, v in graph.deps.items()},
                source=spec.source.file,
                resumed=bool(self.prior),
            )
        )
        for sid, deps in graph.deps.items():
            if self.results[sid].status == StepStatus.PENDING:
                publish(
                    StepPending(
                        run_id=self.run_id,
                        step_id=sid,
                        agent=self.steps[sid].agent,
                        depends_on=list(deps),
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
            publish(RunCancelled(run_id=self.run_id, usage=self._usage()))
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
            self.bus.publish(
                RunFailed(
                    run_id=self.run_id, error=error or "a step did not finish", usage=result.usage
                )
            )
        else:
            last = next(
                (
                    r.output
                    for r in reversed(self.results.values())
                    if r.status == StepStatus.COMPLETED
                ),
                "",
            )
            self.bus.publish(
                RunCompleted(run_id=self.run_id, output=last, outputs=outputs, usage=result.usage)
            )
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
        now = time.time()
        for sid, res in self.results.items():
            if res.status in (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.AWAITING_APPROVAL):
                res.status = StepStatus.CANCELLED
                res.ended_at = now
                self.bus.publish(
                    StepCancelled(
                        run_id=self.run_id, step_id=sid, partial=res.output, ts=res.ended_at
                    )
                )

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
        res.status = StepStatus.RUNNING
        res.started_at = time.time()
        try:
            await self._attempts(self.steps[sid], res)
        except asyncio.CancelledError:
            res.status = StepStatus.CANCELLED
            res.ended_at = time.time()
            self.bus.publish(
                StepCancelled(run_id=self.run_id, step_id=sid, partial=res.output, ts=res.ended_at)
            )
            raise
        finally:
            on_end(sid)

    async def _attempts(self, step: StepSpec, res: StepResult) -> None:
        sid = step.id
        # Most steps of a big DAG have no template: build the context only when one needs it.
        templated = step.condition or step.inputs or (step.prompt and "{{" in step.prompt)
        ctx = self.context(sid) if templated else _NO_CONTEXT
        try:
            if step.condition and not evaluate_condition(step.condition, ctx):
                res.started_at = None
                self._skip(sid, f"condition is false: {step.condition.strip()}")
                return
            agent = self.agents.get(step.agent or "")
            if agent is None:
                raise _StepFailure(f"step {sid}: unknown agent '{step.agent}'", retry=False)
            prompt = build_prompt(
                step,
                render(step.prompt, ctx) if step.prompt else None,
                evaluate_value(step.inputs, ctx) if step.inputs else {},
            )
        except (TemplateError, _StepFailure) as exc:
            self._fail(res, str(exc))
            return
        limit = max_attempts(step, self.spec)
        for attempt in range(1, limit + 1):
            res.attempts = attempt
            try:
                await self._attempt(step, res, agent, prompt, attempt)
                break
            except _StepFailure as exc:
                if not exc.retry or attempt == limit:
                    self._fail(res, str(exc))
                    return
                delay = self.retry_delay * 2 ** (attempt - 1)
                self.bus.publish(
                    StepRetrying(
                        run_id=self.run_id,
                        step_id=sid,
                        attempt=attempt + 1,
                        max_attempts=limit,
                        delay=delay,
                        error=str(exc),
                    )
                )
                if delay > 0:
                    await asyncio.sleep(delay)
        if needs_approval(step):
            await self._approve(step, res)
            if res.status == StepStatus.FAILED:
                return
        res.status = StepStatus.COMPLETED
        res.ended_at = time.time()
        self.bus.publish(
            StepCompleted(
                run_id=self.run_id,
                step_id=sid,
                output=res.output,
                outputs=res.outputs,
                usage=res.usage,
                attempts=res.attempts,
                ts=res.ended_at,
            )
        )

    async def _attempt(
        self, step: StepSpec, res: StepResult, agent: AgentSpec, prompt: str, attempt: int
    ) -> None:
        text: list[str] = []
        try:
            call = self.executor.call(
                run_id=self.run_id,
                step_id=step.id,
                agent=agent,
                prompt=prompt,
                config=step.config,
                output_keys=step.outputs,
                attempt=attempt,
                text=text,
            )
            if step.timeout is None:
                result = await call
            else:
                async with asyncio.timeout(step.timeout):
                    result = await call
        except TimeoutError:
            res.output = "".join(text)
            error = OperationTimeoutError("step", step.timeout or 0, what=f"step {step.id}")
            raise _StepFailure(error.one_line(), retry=True) from None
        except asyncio.CancelledError:
            res.output = "".join(text)
            raise
        except (BadInputError, AuthenticationError) as exc:
            res.output = "".join(text)
            raise _StepFailure(exc.one_line(), retry=False) from None
        except ParacleError as exc:
            res.output = "".join(text)
            raise _StepFailure(exc.one_line(), retry=True) from None
        except Exception as exc:  # a bug in a stand-in or provider: fail the step, keep the run
            res.output = "".join(text)
            raise _StepFailure(f"{type(exc).__name__}: {exc}", retry=False) from None
        res.output = result.text
        res.usage = res.usage + result.usage
        try:
            res.outputs = parse_outputs(step.id, result.text, step.outputs)
        except ParacleError as exc:
            raise _StepFailure(exc.one_line(), retry=True) from None

    async def _approve(self, step: StepSpec, res: StepResult) -> None:
        sid = step.id
        res.status = StepStatus.AWAITING_APPROVAL
        self.bus.publish(StepAwaitingApproval(run_id=self.run_id, step_id=sid, output=res.output))
        if self.approver is None:
            self._fail(res, f"step {sid} needs approval: run with --approve-all or on a terminal")
            return
        self._on_awaiting_approval(sid)
        decision = await self.approver(sid, res.output)
        self.bus.publish(
            StepApprovalDecided(
                run_id=self.run_id, step_id=sid, approved=decision.approved, note=decision.note
            )
        )
        if not decision.approved:
            self._fail(res, f"rejected by reviewer: {decision.note or 'no reason given'}")

    def _fail(self, res: StepResult, error: str) -> None:
        self._failures += 1
        res.status = StepStatus.FAILED
        res.error = error
        res.ended_at = time.time()
        if self._first_error is None:
            self._first_error = f"step {res.step_id} failed: {error}"
        self.bus.publish(
            StepFailed(
                run_id=self.run_id,
                step_id=res.step_id,
                error=error,
                partial=res.output,
                attempts=max(1, res.attempts),
                ts=res.ended_at,
            )
        )

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
