"""Engine events -> Textual messages.

One pump drains the engine bus's coalescing subscription at most once a frame, folds every
event into a `Session` (what this app has seen of each run), and posts a few typed messages
to its target: `RunBegan`, `StepChanged` (once per step per frame), `StepText` (the text that
arrived for a step since the last frame), `RunEnded` and `StatusChanged`. Widgets read the
`Session` records the messages carry; nothing here renders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

import paracle_engine as ev  # the public API: the events by name
from paracle_engine import EventBus, Subscription, Usage

# A frame at 30 fps: fast enough to read as live, slow enough to batch a token stream.
FRAME_SECONDS = 1 / 30

ENDED = {"completed", "failed", "cancelled", "skipped"}

# Step events that also move a figure of the status line.
STATUS_EVENTS = (ev.UsageReported, ev.StepRetrying, ev.RetryScheduled, ev.RateLimitWaiting)


@dataclass(slots=True)
class StepView:
    """One step of a run as the app knows it."""

    step_id: str
    status: str = "pending"
    agent: str | None = None
    provider: str | None = None
    model: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    usage: Usage = field(default_factory=Usage)
    attempt: int = 1
    note: str | None = None
    error: str | None = None
    awaiting_output: str | None = None
    chunks: list[str] = field(default_factory=list)
    # Characters written so far (the length of `text`), kept without joining the chunks.
    length: int = 0

    @property
    def text(self) -> str:
        """Everything the step has written so far (joined once, then kept joined)."""
        if len(self.chunks) > 1:
            self.chunks[:] = ["".join(self.chunks)]
        return self.chunks[0] if self.chunks else ""

    @property
    def tokens(self) -> int:
        return self.usage.total


@dataclass(slots=True)
class RunView:
    """One run (an agent run has one step whose id is the agent id)."""

    run_id: str
    kind: str
    target: str
    task: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    model: str | None = None
    status: str = "running"
    started_at: float = 0.0
    ended_at: float | None = None
    step_ids: list[str] = field(default_factory=list)
    edges: dict[str, list[str]] = field(default_factory=dict)
    steps: dict[str, StepView] = field(default_factory=dict)
    error: str | None = None
    output: str = ""

    def step(self, step_id: str) -> StepView:
        view = self.steps.get(step_id)
        if view is None:
            view = self.steps[step_id] = StepView(step_id)
            if step_id not in self.step_ids:
                self.step_ids.append(step_id)
                self.edges.setdefault(step_id, [])
        return view

    @property
    def usage(self) -> Usage:
        total = Usage()
        for step in self.steps.values():
            total = total + step.usage
        return total

    @property
    def active(self) -> bool:
        return self.status == "running"


@dataclass(slots=True)
class Session:
    """Everything seen on the bus since the app opened: runs, and the status line's figures."""

    runs: dict[str, RunView] = field(default_factory=dict)
    # Tokens per (provider, model), so cost can be estimated at each model's price.
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)
    retries: int = 0
    # Provider -> (clock time when the wait ends, reason).
    rate_waits: dict[str, tuple[float, str]] = field(default_factory=dict)
    breakers: dict[str, str] = field(default_factory=dict)
    history_error: str | None = None

    def running(self) -> list[RunView]:
        return [r for r in self.runs.values() if r.active]


# --------------------------------------------------------------------------- messages


class RunBegan(Message):
    """A run appeared on the bus."""

    def __init__(self, run: RunView) -> None:
        super().__init__()
        self.run = run


class StepChanged(Message):
    """A step's state, timing, tokens or note changed."""

    def __init__(self, run: RunView, step: StepView) -> None:
        super().__init__()
        self.run = run
        self.step = step


class StepText(Message):
    """Text a step wrote since the last frame; it ends at character `end` of the step's text."""

    def __init__(self, run: RunView, step: StepView, text: str, end: int) -> None:
        super().__init__()
        self.run = run
        self.step = step
        self.text = text
        self.end = end


class RunEnded(Message):
    """A run completed, failed or was cancelled."""

    def __init__(self, run: RunView) -> None:
        super().__init__()
        self.run = run


class StatusChanged(Message):
    """Tokens, retries, rate-limit waits, breakers or history health changed."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


# --------------------------------------------------------------------------- the pump


class EngineBridge:
    """Folds engine events into a `Session` and posts messages to `target`, once a frame."""

    def __init__(
        self,
        bus: EventBus,
        target: MessagePump,
        *,
        frame: float = FRAME_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.session = Session()
        self.target = target
        self.frame = frame
        self._clock = clock or time.time
        self._sub: Subscription = bus.subscription()

    async def run(self) -> None:
        """Pump until the bus closes (run it as a worker or task the app owns)."""
        sub = self._sub
        try:
            while True:
                try:
                    first = await sub.get()
                except StopAsyncIteration:
                    return
                self.dispatch([first, *sub.drain()])
                await asyncio.sleep(self.frame)
        finally:
            sub.close()

    def dispatch(self, batch: list[ev.Event]) -> None:
        """Apply one frame's events and post what changed."""
        changed: dict[tuple[str, str], tuple[RunView, StepView]] = {}
        texts: dict[tuple[str, str], list[str]] = {}
        messages: list[Message] = []
        status = False
        for event in batch:
            if isinstance(event, ev.TextDelta):
                run = self._run_for(event.run_id, messages)
                step = run.step(event.step_id)
                step.chunks.append(event.text)
                step.length += len(event.text)
                texts.setdefault((run.run_id, step.step_id), []).append(event.text)
                continue
            touched = self._apply(event, messages)
            if touched is None:
                status = True
            elif touched is not False:
                run, step = touched
                changed[(run.run_id, step.step_id)] = (run, step)
            if isinstance(event, STATUS_EVENTS):
                status = True
        post = self.target.post_message
        for message in messages:
            if isinstance(message, RunEnded):
                continue
            post(message)
        # Text before state, so a pane holds the whole answer when its step is marked done.
        for (run_id, step_id), parts in texts.items():
            run = self.session.runs[run_id]
            step = run.steps[step_id]
            text = "".join(parts)
            # A retry may have cleared the step after this text arrived in the same frame.
            post(StepText(run, step, text[max(0, len(text) - step.length) :], step.length))
        for run, step in changed.values():
            post(StepChanged(run, step))
        for message in messages:
            if isinstance(message, RunEnded):
                post(message)
        if status:
            post(StatusChanged(self.session))

    # ------------------------------------------------------------------ folding

    def _run_for(self, run_id: str, messages: list[Message]) -> RunView:
        run = self.session.runs.get(run_id)
        if run is None:
            # A run we joined late (or whose start we never saw): show it anyway.
            run = self.session.runs[run_id] = RunView(run_id, "workflow", run_id)
            messages.append(RunBegan(run))
        return run

    def _apply(
        self, event: ev.Event, messages: list[Message]
    ) -> tuple[RunView, StepView] | None | bool:
        """Fold one event in. Returns the touched step, None for status-only, False for nothing."""
        session = self.session
        if isinstance(event, ev.RunStarted):
            run = RunView(
                event.run_id,
                event.kind,
                event.target,
                task=event.task,
                inputs=dict(event.inputs),
                provider=event.provider,
                model=event.model,
                started_at=event.ts,
                step_ids=list(event.step_ids),
                edges={k: list(v) for k, v in event.edges.items()},
            )
            for step_id in run.step_ids:
                run.step(step_id)
            old = session.runs.get(event.run_id)
            if event.resumed and old is not None:
                # A resumed run keeps the steps it completed before.
                for step_id, step in old.steps.items():
                    if step.status == "completed" and step_id in run.steps:
                        run.steps[step_id] = step
                run.started_at = old.started_at
            session.runs[event.run_id] = run
            messages.append(RunBegan(run))
            return False
        if isinstance(event, ev.RunCompleted | ev.RunFailed | ev.RunCancelled):
            run = self._run_for(event.run_id, messages)
            run.ended_at = event.ts
            if isinstance(event, ev.RunCompleted):
                run.status, run.output = "completed", event.output
            elif isinstance(event, ev.RunFailed):
                run.status, run.error = "failed", event.error
            else:
                run.status = "cancelled"
            messages.append(RunEnded(run))
            return None
        if isinstance(event, ev.CircuitStateChanged):
            session.breakers[event.endpoint] = event.state
            return None
        if isinstance(event, ev.HistoryStatus):
            session.history_error = None if event.ok else (event.error or "history unavailable")
            return None
        if not isinstance(event, ev.StepEvent):
            return False
        run = self._run_for(event.run_id, messages)
        step = run.step(event.step_id)
        return self._apply_step(event, run, step)

    def _apply_step(
        self, event: ev.StepEvent, run: RunView, step: StepView
    ) -> tuple[RunView, StepView] | None | bool:
        session = self.session
        if isinstance(event, ev.StepPending):
            step.status, step.agent = "pending", event.agent or step.agent
            deps = run.edges.setdefault(step.step_id, [])
            deps.extend(d for d in event.depends_on if d not in deps)
        elif isinstance(event, ev.StepStarted):
            step.status, step.agent = "running", event.agent
            step.provider, step.model, step.attempt = event.provider, event.model, event.attempt
            step.started_at = step.started_at or event.ts
            step.ended_at, step.error, step.awaiting_output = None, None, None
            if event.attempt > 1:
                # A new attempt writes its answer afresh.
                step.chunks.clear()
                step.length = 0
                step.note = f"attempt {event.attempt}"
            run.provider = run.provider or event.provider
            run.model = run.model or event.model
        elif isinstance(event, ev.UsageReported):
            step.usage = step.usage + event.usage
            key = (event.provider or step.provider or "", event.model or step.model or "")
            session.usage[key] = session.usage.get(key, Usage()) + event.usage
            session.rate_waits.pop(event.provider or step.provider or "", None)
        elif isinstance(event, ev.StepRetrying):
            session.retries += 1
            step.note = f"retry {event.attempt}/{event.max_attempts}: {event.error}"
        elif isinstance(event, ev.RetryScheduled):
            session.retries += 1
            step.note = f"retrying in {event.delay:.1f}s ({event.attempt}/{event.max_attempts})"
        elif isinstance(event, ev.RateLimitWaiting):
            session.rate_waits[event.provider] = (self._clock() + event.seconds, event.reason)
            step.note = f"rate limit: waiting {event.seconds:.1f}s"
        elif isinstance(event, ev.StepAwaitingApproval):
            step.status, step.awaiting_output = "awaiting_approval", event.output
            step.note = "waiting for approval"
        elif isinstance(event, ev.StepApprovalDecided):
            step.awaiting_output = None
            verdict = "approved" if event.approved else "rejected"
            step.note = f"{verdict}: {event.note}" if event.note else verdict
        elif isinstance(event, ev.StepCompleted):
            step.status, step.ended_at = "completed", event.ts
            if event.output and not step.chunks:
                step.chunks.append(event.output)
                step.length = len(event.output)
            if not step.note or not step.note.startswith(("approved", "rejected")):
                step.note = None
        elif isinstance(event, ev.StepFailed):
            step.status, step.ended_at, step.error = "failed", event.ts, event.error
            step.note = event.error
        elif isinstance(event, ev.StepSkipped):
            step.status, step.ended_at, step.note = "skipped", event.ts, event.reason
        elif isinstance(event, ev.StepCancelled):
            step.status, step.ended_at, step.note = "cancelled", event.ts, "cancelled"
        else:
            return False
        return run, step
