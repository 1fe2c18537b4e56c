"""Typed domain events and the EventBus that carries them to the fronts and the history.

Every state change of a run is an event. An agent run is a run with one step whose id is the
agent id, so a front draws agent runs and workflow steps the same way.

The bus publishes synchronously and never raises into the publisher: each handler is isolated
and a failing one is logged. Slow consumers read through a `Subscription`, a queue in which
text deltas of one stream coalesce instead of piling up (text is merged, never dropped).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from paracle_engine.models import Usage

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Event:
    run_id: str
    ts: float = field(default_factory=time.time)


@dataclass(slots=True, kw_only=True)
class StepEvent(Event):
    step_id: str


# --------------------------------------------------------------------------- runs


@dataclass(slots=True, kw_only=True)
class RunStarted(Event):
    kind: str  # "agent" or "workflow"
    target: str  # agent id or workflow name
    inputs: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    provider: str | None = None
    model: str | None = None
    step_ids: list[str] = field(default_factory=list)
    # Steps and their dependencies, so a front can lay out the DAG before anything runs.
    edges: dict[str, list[str]] = field(default_factory=dict)
    # The workflow file, so a run can be resumed from history.
    source: str | None = None
    resumed: bool = False


@dataclass(slots=True, kw_only=True)
class RunCompleted(Event):
    output: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)


@dataclass(slots=True, kw_only=True)
class RunFailed(Event):
    error: str
    usage: Usage = field(default_factory=Usage)


@dataclass(slots=True, kw_only=True)
class RunCancelled(Event):
    usage: Usage = field(default_factory=Usage)


# --------------------------------------------------------------------------- steps


@dataclass(slots=True, kw_only=True)
class StepPending(StepEvent):
    agent: str | None = None
    depends_on: list[str] = field(default_factory=list)
    # Why a step that ran before runs again, on resume: "step X re-runs from its start (...)".
    note: str = ""


@dataclass(slots=True, kw_only=True)
class StepStarted(StepEvent):
    agent: str | None
    provider: str
    model: str
    attempt: int = 1
    system_prompt: str = ""
    prompt: str = ""


@dataclass(slots=True, kw_only=True)
class TextDelta(StepEvent):
    text: str


@dataclass(slots=True, kw_only=True)
class UsageReported(StepEvent):
    usage: Usage
    provider: str = ""
    model: str = ""


@dataclass(slots=True, kw_only=True)
class StepRetrying(StepEvent):
    """The whole step is run again (its retry policy)."""

    attempt: int
    max_attempts: int
    delay: float
    error: str


@dataclass(slots=True, kw_only=True)
class StepAwaitingApproval(StepEvent):
    output: str


@dataclass(slots=True, kw_only=True)
class StepApprovalDecided(StepEvent):
    approved: bool
    note: str | None = None


@dataclass(slots=True, kw_only=True)
class StepCompleted(StepEvent):
    output: str
    outputs: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1


@dataclass(slots=True, kw_only=True)
class StepFailed(StepEvent):
    error: str
    partial: str = ""
    attempts: int = 1


@dataclass(slots=True, kw_only=True)
class StepSkipped(StepEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class StepCancelled(StepEvent):
    partial: str = ""


# --------------------------------------------------------------------------- tools


@dataclass(slots=True, kw_only=True)
class ToolCallStarted(StepEvent):
    """The model asked for a tool and the permissions let it run (or are being asked)."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    # The argument a person reads first: the path, the command, the pattern ("" if none).
    summary: str = ""
    round: int = 1


@dataclass(slots=True, kw_only=True)
class ToolDecisionNeeded(StepEvent):
    """A tool call waits for a person (permission `ask`); the step frees its slot meanwhile.

    ``preview`` is exactly what would happen: the command, or a diff for writes and edits.
    """

    call_id: str
    name: str
    preview: str = ""


@dataclass(slots=True, kw_only=True)
class ToolDecided(StepEvent):
    """What was decided about a call: ``allow``, ``allow_run`` (for the rest of the run) or
    ``deny``, and by whom or which rule (``rule``: e.g. "allow read_file (default)",
    "a person", "no one to ask (headless)")."""

    call_id: str
    name: str
    decision: str
    rule: str = ""


@dataclass(slots=True, kw_only=True)
class ToolCallFinished(StepEvent):
    """A tool call ended: ``status`` is ``ok``, ``error``, ``denied`` or ``cancelled``.

    ``result`` is what was sent back to the model (already capped by the tool layer).
    """

    call_id: str
    name: str
    status: str
    result: str = ""
    duration: float = 0.0
    truncated: bool = False


# --------------------------------------------------------------------------- resilience


@dataclass(slots=True, kw_only=True)
class RetryScheduled(StepEvent):
    """A provider call failed in a retryable way and will be sent again after `delay`."""

    provider: str
    attempt: int  # the attempt that will be made next
    max_attempts: int
    delay: float
    error: str


@dataclass(slots=True, kw_only=True)
class RateLimitWaiting(StepEvent):
    provider: str
    seconds: float
    reason: str  # "requests" or "tokens"


@dataclass(slots=True, kw_only=True)
class CircuitStateChanged(Event):
    endpoint: str
    state: str  # "closed", "open", "half_open"
    retry_in: float | None = None


@dataclass(slots=True, kw_only=True)
class HistoryStatus(Event):
    """The history store started failing (ok=False) or recovered (ok=True)."""

    ok: bool
    error: str | None = None


# --------------------------------------------------------------------------- bus

Handler = Callable[[Event], Any]


class Subscription:
    """A bounded, coalescing queue of events for one consumer.

    Consecutive text deltas of one step merge into a single pending delta, so a consumer that
    reads once a frame gets all the text without one queue item per token.
    """

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...] | None) -> None:
        self._bus = bus
        self._types = types
        self._queue: deque[Event] = deque()
        self._pending: dict[tuple[str, str], TextDelta] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _put(self, event: Event) -> None:
        if self._closed or (self._types is not None and not isinstance(event, self._types)):
            return
        if isinstance(event, TextDelta):
            key = (event.run_id, event.step_id)
            pending = self._pending.get(key)
            if pending is not None:
                pending.text += event.text
                return
            own = replace(event)  # a private copy: merging must not touch the shared event
            self._pending[key] = own
            self._queue.append(own)
        else:
            if isinstance(event, StepEvent):
                self._pending.pop((event.run_id, event.step_id), None)
            elif self._pending:
                for key in [k for k in self._pending if k[0] == event.run_id]:
                    del self._pending[key]
            self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __len__(self) -> int:
        return len(self._queue)

    def get_nowait(self) -> Event | None:
        """The next event, or None when the queue is empty."""
        if not self._queue:
            return None
        event = self._queue.popleft()
        if isinstance(event, TextDelta):
            key = (event.run_id, event.step_id)
            if self._pending.get(key) is event:
                del self._pending[key]
        return event

    def drain(self) -> list[Event]:
        """Everything queued now, in order."""
        out: list[Event] = []
        while (event := self.get_nowait()) is not None:
            out.append(event)
        return out

    async def get(self) -> Event:
        """Wait for the next event; raises StopAsyncIteration once closed and drained."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()

    def close(self) -> None:
        """Stop receiving; a waiting reader ends after the queue is drained."""
        self._closed = True
        self._bus._remove_subscription(self)
        self._wake()


class EventBus:
    """Publishes events to handlers and subscriptions, isolating each from the others."""

    def __init__(self) -> None:
        self._handlers: list[tuple[Handler, tuple[type[Event], ...] | None]] = []
        self._subscriptions: list[Subscription] = []

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call `handler(event)` inline for each event (of `types`, if given).

        A handler must be quick; an exception it raises is logged and goes no further.
        Returns a function that unsubscribes.
        """
        entry = (handler, types or None)
        self._handlers.append(entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def subscription(self, *types: type[Event]) -> Subscription:
        """A coalescing queue of events (of `types`, if given) to read at one's own pace."""
        sub = Subscription(self, types or None)
        self._subscriptions.append(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Deliver `event` to every handler and subscription. Never raises."""
        for handler, types in tuple(self._handlers):
            if types is not None and not isinstance(event, types):
                continue
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed on %s", handler, type(event).__name__)
        for sub in self._subscriptions:
            sub._put(event)

    def _remove_subscription(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    async def aclose(self) -> None:
        """Close every subscription."""
        for sub in tuple(self._subscriptions):
            sub.close()
