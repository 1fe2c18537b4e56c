"""A controllable clock and sleep for tests of timing logic (rate limits, breakers, retries).

``FakeTime()`` is a clock (call it for "now") whose ``sleep`` does not return until the test
moves time on with ``await t.advance(seconds)``; ``FakeTime(auto=True)`` instead moves time on
by exactly the slept amount, at once. Either way, every sleep is recorded in ``t.sleeps``.
"""

from __future__ import annotations

import asyncio


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until it blocks again (a few loop turns, no real time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeTime:
    def __init__(self, start: float = 1000.0, *, auto: bool = False) -> None:
        self.now = start
        self.auto = auto
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def sleeping(self) -> int:
        """How many sleeps are waiting for time to move on."""
        return sum(1 for _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.auto:
            self.now += max(0.0, seconds)
            await asyncio.sleep(0)
            return
        entry = (self.now + max(0.0, seconds), asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds`, waking each sleeper at its exact wake time, in order."""
        target = self.now + seconds
        while True:
            await settle()
            due = [e for e in self._sleepers if e[0] <= target and not e[1].done()]
            if not due:
                break
            when = min(e[0] for e in due)
            self.now = max(self.now, when)
            for wake, fut in due:
                if wake <= self.now:
                    fut.set_result(None)
        self.now = target
        await settle()
