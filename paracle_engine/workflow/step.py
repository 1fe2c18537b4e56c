"""One step of a workflow run: its condition, prompt, attempts, retries, timeout, approval and
named outputs.

The scheduler (`workflow.scheduler`) decides when a step starts; `run_step` runs it to an end
and publishes what happens to it meanwhile (retrying, awaiting approval, decided, completed,
cancelled). A failure or a skip is reported back through `StepRun.fail` and `StepRun.skip`,
since the run counts them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from paracle_engine.errors import (
    AuthenticationError,
    BadInputError,
    OperationTimeoutError,
    ParacleError,
    one_line,
)
from paracle_engine.events import (
    EventBus,
    StepApprovalDecided,
    StepAwaitingApproval,
    StepRetrying,
)
from paracle_engine.executor import StepCall
from paracle_engine.lifecycle import RunLifecycle
from paracle_engine.models import (
    AgentSpec,
    CompletionResult,
    StepResult,
    StepSpec,
    StepStatus,
    WorkflowSpec,
)
from paracle_engine.prompts import build_prompt, parse_outputs
from paracle_engine.templates import (
    Context,
    TemplateError,
    evaluate_condition,
    evaluate_value,
    render,
)


class StepCaller(Protocol):
    """Calls one agent for one step attempt: the Executor, or a stand-in in tests and benches."""

    async def call(self, call: StepCall) -> CompletionResult: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's verdict on a step's answer."""

    approved: bool
    note: str | None = None


#: Asked after a step that needs approval has answered: `await approver(step_id, output)`.
Approver = Callable[[str, str], Awaitable[Decision]]


_NO_CONTEXT = Context({}, lambda ref: None)


class StepFailure(Exception):
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


@dataclass(frozen=True, slots=True)
class StepRun:
    """What one step's attempts need from the run around it."""

    step: StepSpec
    result: StepResult  # updated in place as the step runs
    run_id: str
    spec: WorkflowSpec
    agents: Mapping[str, AgentSpec]
    caller: StepCaller
    bus: EventBus
    approver: Approver | None
    retry_delay: float  # before the second attempt; doubled before each one after
    context: Callable[[], Context]  # the templates' view of the run, built when needed
    skip: Callable[[str], None]  # the step is skipped, for this reason
    fail: Callable[[str], None]  # the step failed, with this error
    awaiting_approval: Callable[[], None]  # the step waits on a person: others may start

    @property
    def lifecycle(self) -> RunLifecycle:
        return RunLifecycle(self.bus, self.run_id)


async def run_step(run: StepRun) -> None:
    """Run the step to its end; CancelledError (after StepCancelled) when cancelled."""
    res = run.result
    res.status = StepStatus.RUNNING
    res.started_at = time.time()
    try:
        await _attempts(run)
    except asyncio.CancelledError:
        run.lifecycle.step_cancelled(res)
        raise


async def _attempts(run: StepRun) -> None:
    step, res = run.step, run.result
    sid = step.id
    # Most steps of a big DAG have no template: build the context only when one needs it.
    templated = step.condition or step.inputs or (step.prompt and "{{" in step.prompt)
    ctx = run.context() if templated else _NO_CONTEXT
    try:
        if step.condition and not evaluate_condition(step.condition, ctx):
            res.started_at = None
            run.skip(f"condition is false: {step.condition.strip()}")
            return
        agent = run.agents.get(step.agent or "")
        if agent is None:
            raise StepFailure(f"step {sid}: unknown agent '{step.agent}'", retry=False)
        prompt = build_prompt(
            step,
            render(step.prompt, ctx) if step.prompt else None,
            evaluate_value(step.inputs, ctx) if step.inputs else {},
        )
    except (TemplateError, StepFailure) as exc:
        run.fail(str(exc))
        return
    limit = max_attempts(step, run.spec)
    for attempt in range(1, limit + 1):
        res.attempts = attempt
        try:
            await _attempt(run, agent, prompt, attempt)
            break
        except StepFailure as exc:
            if not exc.retry or attempt == limit:
                run.fail(str(exc))
                return
            delay = run.retry_delay * 2 ** (attempt - 1)
            run.bus.publish(
                StepRetrying(
                    run_id=run.run_id,
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
        await _approve(run)
        if res.status == StepStatus.FAILED:
            return
    run.lifecycle.step_completed(res)


async def _attempt(run: StepRun, agent: AgentSpec, prompt: str, attempt: int) -> None:
    step, res = run.step, run.result
    text: list[str] = []
    try:
        call = run.caller.call(
            StepCall(
                run_id=run.run_id,
                step_id=step.id,
                agent=agent,
                prompt=prompt,
                config=step.config,
                output_keys=tuple(step.outputs),
                attempt=attempt,
                text=text,
            )
        )
        if step.timeout is None:
            result = await call
        else:
            async with asyncio.timeout(step.timeout):
                result = await call
    except TimeoutError:
        res.output = "".join(text)
        error = OperationTimeoutError("step", step.timeout or 0, what=f"step {step.id}")
        raise StepFailure(error.one_line(), retry=True) from None
    except asyncio.CancelledError:
        res.output = "".join(text)
        raise
    except (BadInputError, AuthenticationError) as exc:
        res.output = "".join(text)
        raise StepFailure(exc.one_line(), retry=False) from None
    except ParacleError as exc:
        res.output = "".join(text)
        raise StepFailure(exc.one_line(), retry=True) from None
    except Exception as exc:  # a bug in a stand-in or provider: fail the step, keep the run
        res.output = "".join(text)
        raise StepFailure(one_line(exc), retry=False) from None
    res.output = result.text
    res.usage = res.usage + result.usage
    try:
        res.outputs = parse_outputs(step.id, result.text, step.outputs)
    except ParacleError as exc:
        raise StepFailure(exc.one_line(), retry=True) from None


async def _approve(run: StepRun) -> None:
    res = run.result
    sid = run.step.id
    res.status = StepStatus.AWAITING_APPROVAL
    run.bus.publish(StepAwaitingApproval(run_id=run.run_id, step_id=sid, output=res.output))
    if run.approver is None:
        run.fail(f"step {sid} needs approval: run with --approve-all or on a terminal")
        return
    run.awaiting_approval()
    decision = await run.approver(sid, res.output)
    run.bus.publish(
        StepApprovalDecided(
            run_id=run.run_id, step_id=sid, approved=decision.approved, note=decision.note
        )
    )
    if not decision.approved:
        run.fail(f"rejected by reviewer: {decision.note or 'no reason given'}")
