"""The circuit breaker: closed, open, half-open, and which failures count."""

from __future__ import annotations

import asyncio

import pytest
from support.fake_time import FakeTime

from paracle_engine.errors import (
    AuthenticationError,
    CircuitOpenError,
    OperationTimeoutError,
    ProviderError,
    RateLimitError,
)
from paracle_engine.resilience.policy import CircuitBreaker, CircuitChange


def server_error() -> ProviderError:
    return ProviderError("answered 500", provider="p", status=500)


def breaker(t: FakeTime, changes: list[CircuitChange] | None = None, **kw) -> CircuitBreaker:
    kw.setdefault("failure_threshold", 3)
    kw.setdefault("reset_timeout", 10.0)
    return CircuitBreaker(
        name="http://127.0.0.1:1",
        clock=t,
        on_state_change=changes.append if changes is not None else None,
        **kw,
    )


async def fail(b: CircuitBreaker, exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        async with b:
            raise exc


async def succeed(b: CircuitBreaker) -> None:
    async with b:
        pass


async def test_opens_after_threshold_consecutive_failures_and_fails_fast() -> None:
    t = FakeTime()
    changes: list[CircuitChange] = []
    b = breaker(t, changes)
    for _ in range(2):
        await fail(b, server_error())
    assert b.state == "closed" and b.failures == 2
    await fail(b, server_error())
    assert b.state == "open"
    assert [(c.old, c.new, c.retry_in) for c in changes] == [("closed", "open", 10.0)]
    t.now += 4.0
    entered = False
    with pytest.raises(CircuitOpenError) as info:
        async with b:
            entered = True
    assert not entered
    assert info.value.retry_in == pytest.approx(6.0)
    assert "tried again in 6.0 s" in str(info.value)
    assert info.value.endpoint == "http://127.0.0.1:1"


async def test_success_resets_the_consecutive_count() -> None:
    t = FakeTime()
    b = breaker(t)
    for _ in range(5):
        await fail(b, server_error())
        await fail(b, server_error())
        await succeed(b)
    assert b.state == "closed" and b.failures == 0


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("401", provider="p", status=401),
        ProviderError("400", provider="p", status=400),
        RateLimitError("429", provider="p", status=429),
        ProviderError("malformed", provider="p", error_type="malformed"),
        ValueError("a bug in the caller"),
    ],
    ids=["401", "400", "429", "malformed", "caller-bug"],
)
async def test_failures_that_say_nothing_of_endpoint_health_do_not_count(error) -> None:
    t = FakeTime()
    b = breaker(t)
    for _ in range(10):
        await fail(b, error)
    assert b.state == "closed" and b.failures == 0


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("529", provider="p", status=529),
        ProviderError("503", provider="p", status=503),
        ProviderError("overloaded", provider="p", error_type="overloaded_error"),
        ProviderError("dropped", provider="p", error_type="connection"),
        OperationTimeoutError("idle", 5.0),
        ConnectionResetError("reset by peer"),
    ],
    ids=["529", "503", "overloaded-event", "connection", "idle-timeout", "reset"],
)
async def test_endpoint_failures_count(error) -> None:
    t = FakeTime()
    b = breaker(t)
    for _ in range(3):
        await fail(b, error)
    assert b.state == "open"


async def test_half_open_admits_a_limited_probe_and_success_closes() -> None:
    t = FakeTime()
    changes: list[CircuitChange] = []
    b = breaker(t, changes, half_open_max_calls=1)
    for _ in range(3):
        await fail(b, server_error())
    t.now += 10.0
    assert b.state == "half_open"
    probe = b.admit("run-1")
    assert changes[-1].new == "half_open" and changes[-1].context == "run-1"
    with pytest.raises(CircuitOpenError):
        b.admit()  # one probe at a time
    b.record(probe)
    assert b.state == "closed"
    assert [c.new for c in changes] == ["open", "half_open", "closed"]
    await succeed(b)
    await succeed(b)


async def test_failed_probe_reopens_for_a_new_timeout() -> None:
    t = FakeTime()
    changes: list[CircuitChange] = []
    b = breaker(t, changes)
    for _ in range(3):
        await fail(b, server_error())
    t.now += 10.0
    await fail(b, server_error())
    assert b.state == "open"
    assert b.retry_in == pytest.approx(10.0)
    assert [c.new for c in changes] == ["open", "half_open", "open"]


async def test_probe_that_ends_without_verdict_frees_its_slot() -> None:
    t = FakeTime()
    b = breaker(t)
    for _ in range(3):
        await fail(b, server_error())
    t.now += 10.0
    b.record(b.admit(), asyncio.CancelledError())  # the person cancelled the probe
    assert b.state == "half_open"
    b.record(b.admit())  # the next call may probe
    assert b.state == "closed"


async def test_several_probes_when_configured() -> None:
    t = FakeTime()
    b = breaker(t, half_open_max_calls=2)
    for _ in range(3):
        await fail(b, server_error())
    t.now += 10.0
    first, second = b.admit(), b.admit()
    with pytest.raises(CircuitOpenError):
        b.admit()
    b.record(first)
    assert b.state == "closed"
    b.record(second)
    assert b.state == "closed"


async def test_results_of_calls_admitted_before_opening_are_ignored() -> None:
    t = FakeTime()
    b = breaker(t)
    slow = b.admit()  # a long call started while all was well
    for _ in range(3):
        await fail(b, server_error())
    t.now += 10.0
    probe = b.admit()
    b.record(slow)  # its success says nothing about the endpoint now
    assert b.state == "half_open"
    b.record(probe, server_error())
    assert b.state == "open"


async def test_concurrent_calls_in_separate_tasks_each_report() -> None:
    t = FakeTime()
    b = breaker(t, failure_threshold=2)
    gate = asyncio.Event()

    async def call(ok: bool) -> None:
        async with b:
            await gate.wait()
            if not ok:
                raise server_error()

    tasks = [asyncio.create_task(call(False)) for _ in range(2)]
    tasks.append(asyncio.create_task(call(True)))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert b.state == "open"


async def test_a_failing_listener_does_not_break_the_breaker() -> None:
    t = FakeTime()

    def boom(change: CircuitChange) -> None:
        raise RuntimeError("listener bug")

    b = CircuitBreaker(1, 5.0, clock=t, on_state_change=boom)
    await fail(b, server_error())
    assert b.state == "open"


async def test_reset_closes_at_once() -> None:
    t = FakeTime()
    b = breaker(t)
    for _ in range(3):
        await fail(b, server_error())
    b.reset()
    assert b.state == "closed"
    await succeed(b)
