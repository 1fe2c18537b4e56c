"""Engine events -> Textual messages.

One pump drains the engine bus's coalescing subscription at most once a frame, folds every
event into a `Session` (what this app has seen of each run), and posts a few typed messages
to its target: `RunBegan`, `StepChanged` (once per step per frame), `StepText` (the text that
arrived for a step since the last frame), `RunEnded` and `StatusChanged`. Each run's events
go through the engine's one fold (`paracle_engine.runs.RunState.apply`); the session adds only
its own figures (tokens per model, retries, rate-limit deadlines, breakers, history health).
Widgets read the records the messages carry; nothing here renders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

import paracle_engine as ev  # the public API: the events by name
from paracle_engine import EventBus, RunState, StepState, Subscription, Usage

# A frame at 30 fps: fast enough to read as live, slow enough to batch a token stream.
FRAME_SECONDS = 1 / 30

# Step events that also move a figure of the status line.
STATUS_EVENTS = (ev.UsageReported, ev.StepRetrying, ev.RetryScheduled, ev.RateLimitWaiting)


# The app's names for the engine's run state (one fold, paracle_engine.runs).
RunView = RunState
StepView = StepState


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
        session = self.session
        for event in batch:
            if isinstance(event, ev.TextDelta):
                run = self._run_for(event.run_id, messages)
                run.apply(event)
                texts.setdefault((run.run_id, event.step_id), []).append(event.text)
                continue
            if isinstance(event, ev.CircuitStateChanged):
                session.breakers[event.endpoint] = event.state
                status = True
                continue
            if isinstance(event, ev.HistoryStatus):
                session.history_error = None if event.ok else (event.error or "history unavailable")
                status = True
                continue
            if isinstance(event, ev.RunStarted):
                began = session.runs.get(event.run_id)
                if began is None or not event.resumed:
                    began = session.runs[event.run_id] = RunView(event.run_id)
                began.apply(event)
                messages.append(RunBegan(began))
                continue
            run = self._run_for(event.run_id, messages)
            if isinstance(event, ev.StepEvent):
                self._count(event, run)
            touched = run.apply(event)
            if touched is not None:
                changed[(run.run_id, touched.step_id)] = (run, touched)
            if isinstance(event, ev.RunCompleted | ev.RunFailed | ev.RunCancelled):
                messages.append(RunEnded(run))
                status = True
            elif isinstance(event, STATUS_EVENTS):
                status = True
        post = self.target.post_message
        for message in messages:
            if isinstance(message, RunEnded):
                continue
            post(message)
        # Text before state, so a pane holds the whole answer when its step is marked done.
        for (run_id, step_id), parts in texts.items():
            run = session.runs[run_id]
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
            post(StatusChanged(session))

    # ------------------------------------------------------------------ folding

    def _run_for(self, run_id: str, messages: list[Message]) -> RunView:
        run = self.session.runs.get(run_id)
        if run is None:
            # A run we joined late (or whose start we never saw): show it anyway.
            run = self.session.runs[run_id] = RunView(run_id)
            messages.append(RunBegan(run))
        return run

    def _count(self, event: ev.StepEvent, run: RunView) -> None:
        """The session's figures a step event moves: tokens per model, retries, rate waits."""
        session = self.session
        if isinstance(event, ev.UsageReported):
            step = run.step(event.step_id)
            provider = event.provider or step.provider or ""
            key = (provider, event.model or step.model or "")
            session.usage[key] = session.usage.get(key, Usage()) + event.usage
            session.rate_waits.pop(provider, None)
        elif isinstance(event, ev.StepRetrying | ev.RetryScheduled):
            session.retries += 1
        elif isinstance(event, ev.RateLimitWaiting):
            session.rate_waits[event.provider] = (self._clock() + event.seconds, event.reason)
