"""The one fold of a run's events into its state: a `RunState` with a `StepState` per step.

Every front that follows a run live (the app's bridge, the CLI's progress lines) feeds the
run's events to `RunState.apply` and reads the state back, so a step's status, timing, tokens,
note and text mean the same everywhere. The fold knows nothing of screens, sessions or clocks:
what a front adds (tokens per model, rate-limit deadlines) it keeps beside the state.

Text deltas are the hot path (one per token): `apply` tests for them first and appends the
piece to a list, joining only when the text is read.

Tool calls are folded into the step's `tools` (one `ToolCallState` each, in the order they
started); `tool_changes` counts the changes, so a front redraws them only when it moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paracle_engine import events as ev
from paracle_engine.models import Usage
from paracle_engine.vocabulary import FINAL_STEP_STATUSES

__all__ = ["RunState", "StepState", "ToolCallState"]

# A tool call's status before it ends: running, or waiting for a person's answer.
TOOL_RUNNING = "running"
TOOL_ASKING = "asking"


@dataclass(slots=True)
class ToolCallState:
    """One tool call of a step: what was asked, what was decided, and how it ended."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    round: int = 1
    # running, asking, then ok, error, denied or cancelled.
    status: str = TOOL_RUNNING
    preview: str = ""
    decision: str | None = None
    rule: str = ""
    result: str = ""
    duration: float | None = None
    truncated: bool = False
    # Characters of the step's text written before the call started.
    at: int = 0

    @property
    def ended(self) -> bool:
        return self.status not in (TOOL_RUNNING, TOOL_ASKING)


@dataclass(slots=True)
class StepState:
    """One step of a run as its events tell it (an agent run's one step has the agent's id)."""

    step_id: str
    status: str = "pending"
    agent: str | None = None
    provider: str | None = None
    model: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    usage: Usage = field(default_factory=Usage)
    # The attempt running now, or the attempts it took once it ended.
    attempt: int = 1
    # Between a failed attempt and the next one (the step's retry policy).
    retrying: bool = False
    note: str | None = None
    error: str | None = None
    awaiting_output: str | None = None
    chunks: list[str] = field(default_factory=list)
    # Characters written so far (the length of `text`), kept without joining the chunks.
    length: int = 0
    tools: list[ToolCallState] = field(default_factory=list)
    # Bumped by every tool event folded in: a front redraws the calls only when it moved.
    tool_changes: int = 0

    @property
    def text(self) -> str:
        """Everything the step's current attempt has written (joined once, then kept joined)."""
        if len(self.chunks) > 1:
            self.chunks[:] = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    @property
    def tokens(self) -> int:
        return self.usage.total

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STEP_STATUSES

    @property
    def streaming(self) -> bool:
        """Running, and the model has begun to answer."""
        return self.status == "running" and self.length > 0

    @property
    def in_tool(self) -> str | None:
        """The name of the tool call running now (the last one started), else None."""
        for call in reversed(self.tools):
            if call.status == TOOL_RUNNING:
                return call.name
        return None

    @property
    def asking(self) -> str | None:
        """The name of the tool call waiting for a person's answer, else None."""
        for call in reversed(self.tools):
            if call.status == TOOL_ASKING:
                return call.name
        return None

    def tool(self, call_id: str) -> ToolCallState | None:
        for call in reversed(self.tools):
            if call.call_id == call_id:
                return call
        return None

    def elapsed(self, now: float) -> float | None:
        """Seconds since the step started, up to its end (or `now`); None before it starts."""
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at if self.ended_at is not None else now) - self.started_at)

    def _restart_text(self) -> None:
        self.chunks.clear()
        self.length = 0
        if self.tools:
            self.tools.clear()
            self.tool_changes += 1

    def _apply_tool(self, event: ev.StepEvent) -> bool:
        """Fold a tool event in; False when it is not one (or names an unknown call)."""
        if isinstance(event, ev.ToolCallStarted):
            self.tools.append(
                ToolCallState(
                    event.call_id,
                    event.name,
                    dict(event.arguments),
                    event.summary,
                    event.round,
                    at=self.length,
                )
            )
        elif isinstance(event, ev.ToolDecisionNeeded | ev.ToolDecided | ev.ToolCallFinished):
            call = self.tool(event.call_id)
            if call is None:  # joined late: the call's start was never seen
                call = ToolCallState(event.call_id, event.name, at=self.length)
                self.tools.append(call)
            if isinstance(event, ev.ToolDecisionNeeded):
                call.status, call.preview = TOOL_ASKING, event.preview
            elif isinstance(event, ev.ToolDecided):
                call.decision, call.rule = event.decision, event.rule
                if call.status == TOOL_ASKING:
                    call.status = TOOL_RUNNING
            else:
                call.status, call.result = event.status, event.result
                call.duration, call.truncated = event.duration, event.truncated
        else:
            return False
        self.tool_changes += 1
        return True


@dataclass(slots=True)
class RunState:
    """One run, folded from its events by `apply`."""

    run_id: str
    kind: str = "workflow"
    target: str = ""
    task: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    status: str = "running"
    started_at: float = 0.0
    ended_at: float | None = None
    step_ids: list[str] = field(default_factory=list)
    edges: dict[str, list[str]] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    error: str | None = None
    output: str = ""
    resumed: bool = False

    def __post_init__(self) -> None:
        if not self.target:
            self.target = self.run_id

    def step(self, step_id: str) -> StepState:
        """The step's state, added (after the known ones) the first time it is named."""
        state = self.steps.get(step_id)
        if state is None:
            state = self.steps[step_id] = StepState(step_id)
            if step_id not in self.step_ids:
                self.step_ids.append(step_id)
                self.edges.setdefault(step_id, [])
        return state

    @property
    def usage(self) -> Usage:
        total = Usage()
        for step in self.steps.values():
            total = total + step.usage
        return total

    @property
    def active(self) -> bool:
        return self.status == "running"

    # ------------------------------------------------------------------ the fold

    def apply(self, event: ev.Event) -> StepState | None:
        """Fold `event` (one of this run's) in; returns the step it changed, if any."""
        if isinstance(event, ev.TextDelta):
            step = self.steps.get(event.step_id) or self.step(event.step_id)
            step.chunks.append(event.text)
            step.length += len(event.text)
            return step
        if isinstance(event, ev.StepEvent):
            step = self.step(event.step_id)
            return step if self._apply_step(event, step) else None
        if isinstance(event, ev.RunStarted):
            self._started(event)
        elif isinstance(event, ev.RunCompleted):
            self.status, self.output, self.ended_at = "completed", event.output, event.ts
        elif isinstance(event, ev.RunFailed):
            self.status, self.error, self.ended_at = "failed", event.error, event.ts
        elif isinstance(event, ev.RunCancelled):
            self.status, self.ended_at = "cancelled", event.ts
        return None

    def _started(self, event: ev.RunStarted) -> None:
        # A resumed run keeps its first start and the steps it completed before.
        kept = (
            {k: s for k, s in self.steps.items() if s.status == "completed"}
            if event.resumed
            else {}
        )
        if not (event.resumed and self.started_at):
            self.started_at = event.ts
        self.kind, self.target, self.task = event.kind, event.target, event.task
        self.inputs = dict(event.inputs)
        self.provider, self.model = event.provider, event.model
        self.status, self.ended_at, self.error, self.output = "running", None, None, ""
        self.resumed = event.resumed
        self.step_ids = list(event.step_ids)
        self.edges = {k: list(v) for k, v in event.edges.items()}
        self.steps = {}
        for step_id in self.step_ids:
            self.steps[step_id] = kept.get(step_id) or StepState(step_id)
            self.edges.setdefault(step_id, [])

    def _apply_step(self, event: ev.StepEvent, step: StepState) -> bool:
        """Fold a step event in; False when it changes nothing the state holds."""
        if isinstance(event, ev.StepPending):
            step.status, step.agent = "pending", event.agent or step.agent
            deps = self.edges.setdefault(step.step_id, [])
            deps.extend(d for d in event.depends_on if d not in deps)
        elif isinstance(event, ev.StepStarted):
            step.status, step.agent, step.retrying = "running", event.agent, False
            step.provider, step.model, step.attempt = event.provider, event.model, event.attempt
            step.started_at = step.started_at or event.ts
            step.ended_at, step.error, step.awaiting_output, step.note = None, None, None, None
            if event.attempt > 1:
                step._restart_text()  # a new attempt writes its answer afresh
                step.note = f"attempt {event.attempt}"
            self.provider = self.provider or event.provider
            self.model = self.model or event.model
        elif isinstance(event, ev.UsageReported):
            step.usage = step.usage + event.usage
        elif isinstance(event, ev.StepRetrying):
            step.retrying = True
            step.note = f"retry {event.attempt}/{event.max_attempts}: {event.error}"
        elif isinstance(event, ev.RetryScheduled):
            step.note = f"retrying in {event.delay:.1f}s ({event.attempt}/{event.max_attempts})"
        elif isinstance(event, ev.RateLimitWaiting):
            step.note = f"rate limit: waiting {event.seconds:.1f}s"
        elif isinstance(event, ev.StepAwaitingApproval):
            step.status, step.awaiting_output = "awaiting_approval", event.output
            step.note = "waiting for approval"
        elif isinstance(event, ev.StepApprovalDecided):
            step.awaiting_output = None
            verdict = "approved" if event.approved else "rejected"
            step.note = f"{verdict}: {event.note}" if event.note else verdict
        elif isinstance(event, ev.StepCompleted):
            step.status, step.ended_at, step.attempt = "completed", event.ts, event.attempts
            if event.output and not step.chunks:
                step.chunks.append(event.output)
                step.length = len(event.output)
            if not step.note or not step.note.startswith(("approved", "rejected")):
                step.note = None
        elif isinstance(event, ev.StepFailed):
            step.status, step.ended_at, step.error = "failed", event.ts, event.error
            step.attempt, step.note = event.attempts, event.error
            if event.partial and not step.chunks:
                step.chunks.append(event.partial)
                step.length = len(event.partial)
        elif isinstance(event, ev.StepSkipped):
            step.status, step.ended_at, step.note = "skipped", event.ts, event.reason
        elif isinstance(event, ev.StepCancelled):
            step.status, step.ended_at, step.note = "cancelled", event.ts, "cancelled"
            if event.partial and not step.chunks:
                step.chunks.append(event.partial)
                step.length = len(event.partial)
        else:
            return step._apply_tool(event)
        if step.ended:
            for call in step.tools:  # a call the step ended under ends with it
                if not call.ended:
                    call.status = "cancelled"
                    step.tool_changes += 1
        return True
