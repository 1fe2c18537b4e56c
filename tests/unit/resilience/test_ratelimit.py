"""The rate limiter on a fake clock: exact waits, first come first served, no burst after idle."""

from __future__ import annotations

import asyncio

import pytest
from support.fake_time import FakeTime, settle

from paracle_engine.resilience.policy import RateLimiter


def limiter(t: FakeTime, rpm: float | None = None, tpm: float | None = None, **kw) -> RateLimiter:
    return RateLimiter(rpm, tpm, clock=t, sleep=t.sleep, **kw)


async def test_unlimited_never_waits() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t)
    assert not lim.limited
    assert [await lim.acquire(10_000) for _ in range(50)] == [0.0] * 50
    assert t.sleeps == []


async def test_sixty_rpm_second_call_waits_exactly_one_second() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=60)
    assert await lim.acquire() == 0.0
    assert await lim.acquire() == pytest.approx(1.0, abs=1e-9)
    # One sleep of the whole deficit, not a poll loop and not a whole minute.
    assert t.sleeps == [pytest.approx(1.0, abs=1e-9)]


async def test_waits_only_for_the_deficit() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=60)
    await lim.acquire()
    t.now += 0.25
    assert await lim.acquire() == pytest.approx(0.75, abs=1e-9)


async def test_tokens_per_minute_refill_exactly() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, tpm=600)  # 10 tokens a second
    assert await lim.acquire(600) == 0.0
    assert await lim.acquire(100) == pytest.approx(10.0, abs=1e-9)
    assert await lim.acquire(5) == pytest.approx(0.5, abs=1e-9)


async def test_no_burst_beyond_capacity_after_a_long_idle() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=60, tpm=600)
    await lim.acquire(600)
    t.now += 10_000  # an idle afternoon
    requests, tokens = lim.available()
    assert requests == pytest.approx(1.0)
    assert tokens == pytest.approx(600.0)
    waits = [await lim.acquire() for _ in range(3)]
    assert waits == [0.0, pytest.approx(1.0), pytest.approx(1.0)]


async def test_burst_lets_that_many_requests_through_back_to_back() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=60, burst=3)
    waits = [await lim.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(1.0)]


async def test_waiters_are_served_first_come_first_served_with_mixed_sizes() -> None:
    t = FakeTime()
    lim = limiter(t, tpm=600)  # 10 tokens a second
    await lim.acquire(600)
    await t.advance(10.0)  # 100 tokens back in the bucket
    done: list[str] = []

    async def call(name: str, tokens: int) -> float:
        waited = await lim.acquire(tokens)
        done.append(name)
        return waited

    big = asyncio.create_task(call("big", 500))
    await settle()
    small = asyncio.create_task(call("small", 10))
    await settle()
    # The small request would fit in the bucket right now, but it came second.
    assert done == []
    assert lim.waiting == 2
    # Only the head sleeps; the small request waits its turn instead of polling.
    assert t.sleeping == 1
    await t.advance(39.9)
    assert done == []
    await t.advance(0.1)
    assert done == ["big"]
    await t.advance(1.0)
    assert done == ["big", "small"]
    assert await big == pytest.approx(40.0)
    assert await small == pytest.approx(41.0)
    assert lim.waiting == 0


async def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, tpm=600)
    await lim.acquire(600)
    assert await lim.acquire(10_000) == pytest.approx(60.0)


async def test_on_wait_reports_the_expected_wait_and_its_reason() -> None:
    t = FakeTime()
    lim = limiter(t, rpm=60, tpm=600)
    seen: list[tuple[float, str]] = []
    await lim.acquire(0, on_wait=lambda s, r: seen.append((s, r)))
    assert seen == []  # no wait, no report
    first = asyncio.create_task(lim.acquire(0, on_wait=lambda s, r: seen.append((s, r))))
    await settle()
    second = asyncio.create_task(lim.acquire(300, on_wait=lambda s, r: seen.append((s, r))))
    await settle()
    assert seen[0] == (pytest.approx(1.0), "requests")
    # Second in line: two request slots to refill (2 s); its 300 tokens are there already.
    assert seen[1] == (pytest.approx(2.0), "requests")
    await t.advance(2.0)
    assert await first == pytest.approx(1.0)
    assert await second == pytest.approx(2.0)
    third = asyncio.create_task(lim.acquire(600, on_wait=lambda s, r: seen.append((s, r))))
    await settle()
    # 300 tokens left, 600 wanted: 30 s of refill outweighs the 1 s request gap.
    assert seen[2] == (pytest.approx(30.0), "tokens")
    await t.advance(30.0)
    assert await third == pytest.approx(30.0)


async def test_cancelled_waiter_leaves_the_queue_and_takes_nothing() -> None:
    t = FakeTime()
    lim = limiter(t, rpm=60)
    await lim.acquire()
    head = asyncio.create_task(lim.acquire())
    await settle()
    behind = asyncio.create_task(lim.acquire())
    await settle()
    assert lim.waiting == 2
    head.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head
    await settle()
    assert lim.waiting == 1
    # The slot the cancelled head would have taken goes to the next in line, on time.
    await t.advance(1.0)
    assert behind.done()
    assert await behind == pytest.approx(1.0)
    assert lim.waiting == 0
    assert t.sleeping == 0


async def test_cancelled_waiter_in_the_middle_of_the_queue() -> None:
    t = FakeTime()
    lim = limiter(t, rpm=60)
    await lim.acquire()
    tasks = [asyncio.create_task(lim.acquire()) for _ in range(3)]
    await settle()
    tasks[1].cancel()
    await settle()
    assert lim.waiting == 2
    await t.advance(2.0)
    assert await tasks[0] == pytest.approx(1.0)
    assert await tasks[2] == pytest.approx(2.0)
    assert tasks[1].cancelled()


async def test_adjust_returns_overestimated_tokens_and_charges_underestimates() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, tpm=600)
    await lim.acquire(600)
    lim.adjust(estimated=600, actual=100)  # 500 tokens come back
    assert await lim.acquire(500) == 0.0
    lim.adjust(estimated=0, actual=100)  # used more than reserved: 100 tokens of debt
    assert await lim.acquire(10) == pytest.approx(11.0)


async def test_release_gives_back_a_request_that_was_never_sent() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=60)
    await lim.acquire()
    lim.release(request=True)
    assert await lim.acquire() == 0.0


async def test_precision_over_a_simulated_minute() -> None:
    t = FakeTime(auto=True)
    lim = limiter(t, rpm=120)
    start = t()
    for _ in range(121):
        await lim.acquire()
    # 121 requests at 2 a second: the first is free, the other 120 take exactly 60 s.
    assert t() - start == pytest.approx(60.0, abs=1e-6)
