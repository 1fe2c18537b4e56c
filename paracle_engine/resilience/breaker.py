"""A circuit breaker for one provider endpoint: closed, open, half-open.

Closed, calls pass and consecutive endpoint failures are counted; at `failure_threshold`
the circuit opens and calls fail at once with CircuitOpenError. After `reset_timeout` it is
half-open: up to `half_open_max_calls` probes pass; a probe that succeeds closes the circuit,
one that fails opens it again. Only failures that say the endpoint is unhealthy count
(`is_endpoint_failure`): a refused key or a bad request leaves the count alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from paracle_engine.errors import CircuitOpenError
from paracle_engine.resilience.retry import is_endpoint_failure

log = logging.getLogger(__name__)

CircuitState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class CircuitChange:
    """A state change of a breaker, passed to its `on_state_change` callback."""

    name: str
    old: CircuitState
    new: CircuitState
    #: Seconds until an open circuit lets a probe through; None unless `new` is "open".
    retry_in: float | None
    #: Whatever the call that caused the change passed as `context` (the engine: its run id).
    context: Any = None


@dataclass(slots=True)
class CircuitTicket:
    """One admitted call. Hand it back with `CircuitBreaker.record`."""

    generation: int
    probe: bool
    context: Any = None
    done: bool = False


class CircuitBreaker:
    """Guards calls to one endpoint. Use `async with breaker:` around a call, or
    `ticket = breaker.admit()` ... `breaker.record(ticket, error)` where a block does not fit."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        name: str = "endpoint",
        clock: Callable[[], float] = time.monotonic,
        on_state_change: Callable[[CircuitChange], Any] | None = None,
        counts: Callable[[BaseException], bool] = is_endpoint_failure,
    ) -> None:
        self.failure_threshold = max(1, failure_threshold)
        self.reset_timeout = max(0.0, reset_timeout)
        self.half_open_max_calls = max(1, half_open_max_calls)
        self.name = name
        self._clock = clock
        self._on_state_change = on_state_change
        self._counts = counts
        self._state: CircuitState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        # Bumped on every opening, so results of calls admitted earlier are not mistaken for probes.
        self._generation = 0
        self._tickets: dict[asyncio.Task[Any] | None, list[CircuitTicket]] = {}

    # ------------------------------------------------------------------ reading

    @property
    def state(self) -> CircuitState:
        """The state as of now: an open circuit whose timeout passed reads "half_open"."""
        if self._state == "open" and self.retry_in == 0.0:
            return "half_open"
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive endpoint failures counted while closed."""
        return self._failures

    @property
    def retry_in(self) -> float:
        """Seconds until an open circuit admits a probe (0 unless open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    # ------------------------------------------------------------------ calls

    def admit(self, context: Any = None) -> CircuitTicket:
        """Let one call through, or raise CircuitOpenError at once."""
        if self._state == "open":
            wait = self.retry_in
            if wait > 0.0:
                raise CircuitOpenError(self.name, wait)
            self._set("half_open", context)
        if self._state == "half_open":
            if self._probes >= self.half_open_max_calls:
                # A probe is under way; its outcome decides, which takes at most a call's time.
                raise CircuitOpenError(self.name, self.reset_timeout)
            self._probes += 1
            return CircuitTicket(self._generation, probe=True, context=context)
        return CircuitTicket(self._generation, probe=False, context=context)

    def record(self, ticket: CircuitTicket, error: BaseException | None = None) -> None:
        """Report how an admitted call ended: `error` None is a success."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.probe and ticket.generation == self._generation and self._state == "half_open":
            self._probes -= 1
        if ticket.generation != self._generation:
            return  # admitted before the circuit last opened: its news is stale
        failed = error is not None and self._counts(error)
        if error is None:
            if self._state == "half_open" and ticket.probe:
                self._failures = 0
                self._set("closed", ticket.context)
            elif self._state == "closed":
                self._failures = 0
        elif failed:
            if self._state == "half_open":
                self._open(ticket.context)
            elif self._state == "closed":
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._open(ticket.context)

    def reset(self) -> None:
        """Close the circuit and forget the failures (a person asked to try again)."""
        self._failures = 0
        self._probes = 0
        if self._state != "closed":
            self._generation += 1
            self._set("closed", None)

    # ------------------------------------------------------------------ async with

    async def __aenter__(self) -> CircuitBreaker:
        ticket = self.admit()
        self._tickets.setdefault(asyncio.current_task(), []).append(ticket)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = asyncio.current_task()
        stack = self._tickets.get(task)
        if not stack:
            return
        ticket = stack.pop()
        if not stack:
            del self._tickets[task]
        self.record(ticket, exc)

    # ------------------------------------------------------------------ internals

    def _open(self, context: Any) -> None:
        self._generation += 1
        self._probes = 0
        self._opened_at = self._clock()
        self._set("open", context)

    def _set(self, new: CircuitState, context: Any) -> None:
        old = self._state
        if old == new:
            return
        self._state = new
        if new != "half_open":
            self._probes = 0
        if self._on_state_change is not None:
            retry_in = self.reset_timeout if new == "open" else None
            try:
                self._on_state_change(CircuitChange(self.name, old, new, retry_in, context))
            except Exception:  # a listener's bug must not change how calls are guarded
                log.exception("circuit listener failed on %s -> %s", old, new)
