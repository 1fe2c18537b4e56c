"""A client-side rate limiter per provider: requests per minute and tokens per minute.

Two token buckets refill continuously. A caller that finds them short waits exactly the
deficit divided by the rate, never a whole period. Waiters are served first come, first
served: only the head of the queue sleeps, the others wait for their turn, so a later small
request never overtakes an earlier big one and a release never wakes everyone at once.
Buckets never hold more than their capacity, so a long idle spell buys no burst beyond it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# Float rounding can leave a bucket a hair short after an exact sleep; that hair is no deficit.
_EPSILON = 1e-9

OnWait = Callable[[float, str], Any]


class _Bucket:
    """Continuous refill at `per_minute / 60` a second, up to `capacity`. The level can go
    below zero when real usage exceeds what was reserved, which later callers then wait out."""

    __slots__ = ("rate", "capacity", "level", "stamp")

    def __init__(self, per_minute: float, capacity: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.level = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (after a refill)."""
        deficit = amount - self.level
        return deficit / self.rate if deficit > _EPSILON else 0.0


@dataclass(slots=True, eq=False)
class _Waiter:
    tokens: float
    turn: asyncio.Future[None] | None = field(default=None)


class RateLimiter:
    """Limits one provider to `requests_per_minute` and `tokens_per_minute` (None: no limit).

    `burst` is how many requests may go back to back after an idle spell (1 spaces them
    evenly, as providers enforce a per-minute limit over short intervals). The token bucket
    holds a minute's worth; a single request larger than that waits for a full bucket.
    `clock` and `sleep` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._requests = (
            _Bucket(requests_per_minute, float(max(1, burst)), now)
            if requests_per_minute and requests_per_minute > 0
            else None
        )
        self._tokens = (
            _Bucket(tokens_per_minute, float(tokens_per_minute), now)
            if tokens_per_minute and tokens_per_minute > 0
            else None
        )
        self._queue: deque[_Waiter] = deque()

    @property
    def limited(self) -> bool:
        """False when neither limit is set: `acquire` then returns at once."""
        return self._requests is not None or self._tokens is not None

    @property
    def waiting(self) -> int:
        """How many callers are queued."""
        return len(self._queue)

    def available(self) -> tuple[float | None, float | None]:
        """Requests and tokens available now (None for a limit that is not set)."""
        self._refill()
        return (
            self._requests.level if self._requests else None,
            self._tokens.level if self._tokens else None,
        )

    async def acquire(self, tokens: float = 0, *, on_wait: OnWait | None = None) -> float:
        """Take one request and `tokens` (an estimate) from the buckets; returns seconds waited.

        When the caller must wait, `on_wait(seconds, reason)` is called once first with the
        expected wait and "requests" or "tokens", whichever holds it back. Cancelled while
        waiting, the caller leaves the queue having taken nothing.
        """
        if not self.limited:
            return 0.0
        start = self._clock()
        need = self._clamp(tokens)
        if not self._queue:
            self._refill()
            if self._wait_for(1.0, need)[0] == 0.0:
                self._take(need)
                return 0.0
        waiter = _Waiter(need)
        self._queue.append(waiter)
        if on_wait is not None:
            seconds, reason = self._expected_wait()
            on_wait(seconds, reason)
        try:
            while True:
                if self._queue[0] is not waiter:
                    waiter.turn = asyncio.get_running_loop().create_future()
                    await waiter.turn
                    continue
                self._refill()
                seconds, _ = self._wait_for(1.0, need)
                if seconds == 0.0:
                    self._take(need)
                    break
                await self._sleep(seconds)
        finally:
            self._leave(waiter)
        return max(0.0, self._clock() - start)

    def adjust(self, estimated: float, actual: float) -> None:
        """Correct a token estimate with the usage the provider reported."""
        if self._tokens is None:
            return
        self._refill()
        self._tokens.level = min(self._tokens.capacity, self._tokens.level + estimated - actual)

    def release(self, tokens: float = 0, *, request: bool = False) -> None:
        """Give back tokens (and the request slot) taken for a call that was never sent."""
        self._refill()
        if self._tokens is not None and tokens:
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + tokens)
        if self._requests is not None and request:
            self._requests.level = min(self._requests.capacity, self._requests.level + 1.0)

    # ------------------------------------------------------------------ internals

    def _clamp(self, tokens: float) -> float:
        if self._tokens is None or tokens <= 0:
            return 0.0
        return min(float(tokens), self._tokens.capacity)

    def _refill(self) -> None:
        now = self._clock()
        for bucket in (self._requests, self._tokens):
            if bucket is not None:
                bucket.refill(now)

    def _wait_for(self, requests: float, tokens: float) -> tuple[float, str]:
        by_requests = self._requests.wait_for(requests) if self._requests else 0.0
        by_tokens = self._tokens.wait_for(tokens) if self._tokens and tokens else 0.0
        if by_tokens > by_requests:
            return by_tokens, "tokens"
        return by_requests, "requests"

    def _expected_wait(self) -> tuple[float, str]:
        # Everyone queued ahead is served first, so the last in line waits for all of them.
        self._refill()
        total_tokens = sum(w.tokens for w in self._queue)
        return self._wait_for(float(len(self._queue)), total_tokens)

    def _take(self, tokens: float) -> None:
        if self._requests is not None:
            self._requests.level -= 1.0
        if self._tokens is not None:
            self._tokens.level -= tokens

    def _leave(self, waiter: _Waiter) -> None:
        was_head = bool(self._queue) and self._queue[0] is waiter
        try:
            self._queue.remove(waiter)
        except ValueError:
            return
        if was_head and self._queue:
            nxt = self._queue[0]
            if nxt.turn is not None and not nxt.turn.done():
                nxt.turn.set_result(None)
