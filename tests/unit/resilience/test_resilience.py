"""Retry decisions and delays, timeouts, and the ResiliencePolicy around scripted providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
from support.fake_time import FakeTime, settle

from paracle_engine.config import (
    CircuitSettings,
    RateLimitSettings,
    RetrySettings,
    Settings,
    TimeoutSettings,
)
from paracle_engine.errors import (
    AuthenticationError,
    CircuitOpenError,
    OperationTimeoutError,
    ProviderError,
    RateLimitError,
)
from paracle_engine.events import (
    CircuitStateChanged,
    Event,
    EventBus,
    RateLimitWaiting,
    RetryScheduled,
)
from paracle_engine.models import CompletionRequest, Message, StreamChunk, Usage
from paracle_engine.resilience.policy import (
    ResiliencePolicy,
    RetryConfig,
    estimate_tokens,
    is_retryable,
    retry_after_from_headers,
    retry_delay,
)


def perr(status: int | None = None, **kw: Any) -> ProviderError:
    cls = (
        RateLimitError if status == 429 else AuthenticationError if status == 401 else ProviderError
    )
    return cls(f"answered {status}", provider="fake", status=status, **kw)


# --------------------------------------------------------------------------- what is retried


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retried(status: int) -> None:
    assert is_retryable(perr(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_request_errors_are_not_retried(status: int) -> None:
    assert not is_retryable(perr(status))


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("overloaded", provider="fake", error_type="overloaded_error"),
        ProviderError("api", provider="fake", error_type="api_error"),
        ProviderError("dropped", provider="fake", error_type="connection"),
        ProviderError("slow", provider="fake", error_type="timeout"),
        ConnectionResetError("reset"),
        TimeoutError(),
        OperationTimeoutError("first_token", 5),
        OperationTimeoutError("idle", 5),
    ],
    ids=[
        "overloaded",
        "api_error",
        "connection",
        "timeout",
        "reset",
        "TimeoutError",
        "first",
        "idle",
    ],
)
def test_stream_errors_connections_and_timeouts_are_retried(error: BaseException) -> None:
    assert is_retryable(error)


def test_not_retried_total_timeout_after_output_and_unknown_errors() -> None:
    assert not is_retryable(OperationTimeoutError("total", 600))
    assert not is_retryable(perr(500, after_output=True))
    assert not is_retryable(ProviderError("bad data", provider="fake", error_type="malformed"))
    assert not is_retryable(ValueError("a bug"))


def test_should_retry_header_wins_both_ways() -> None:
    assert not is_retryable(perr(500, should_retry=False))
    assert is_retryable(perr(400, should_retry=True))


def test_a_refused_key_is_never_retried_even_if_the_server_says_so() -> None:
    assert not is_retryable(perr(401, should_retry=True))


def test_sdk_style_errors_are_read_by_status_and_body() -> None:
    class APIStatusError(Exception):
        def __init__(self, status_code: int, body: Any) -> None:
            super().__init__("sdk error")
            self.status_code = status_code
            self.body = body

    # An `error` event inside a 200 stream, as the SDK raises it.
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert is_retryable(APIStatusError(200, overloaded))
    assert not is_retryable(APIStatusError(200, {"error": {"type": "invalid_request_error"}}))
    assert is_retryable(APIStatusError(529, None))


# --------------------------------------------------------------------------- delays


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    cfg = RetryConfig(base_delay=1.0, max_delay=5.0, exponential_base=2.0, jitter=False)
    assert [cfg.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    cfg = RetryConfig(base_delay=1.0, max_delay=30.0, jitter=True)
    assert cfg.backoff(3, rand=lambda: 0.0) == 0.0
    assert cfg.backoff(3, rand=lambda: 0.5) == 2.0
    assert cfg.backoff(3, rand=lambda: 0.999) == pytest.approx(3.996)


def test_retry_after_is_the_delay() -> None:
    cfg = RetryConfig(base_delay=0.01, jitter=False)
    assert retry_delay(perr(429, retry_after=2.0), 1, cfg) == 2.0
    assert retry_delay(perr(500), 1, cfg) == 0.01


def test_retry_after_above_the_cap_gives_up_saying_how_long() -> None:
    cfg = RetryConfig(max_retry_after=60.0)
    with pytest.raises(RateLimitError) as info:
        retry_delay(perr(429, retry_after=120.0), 1, cfg)
    assert "asked to wait 120 s" in str(info.value)
    assert info.value.hint and "max_retry_after" in info.value.hint


def test_retry_after_headers() -> None:
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_from_headers({"Retry-After": "2"}) == 2.0
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_from_headers({"retry-after": date}, now=1445412470.0) == 10.0
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None


# --------------------------------------------------------------------------- the policy

STALL = object()


class ScriptedProvider:
    """A provider whose every call plays the next script: chunks, errors, or a stall."""

    name = "fake"
    endpoint = "http://fake.test:443"

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = list(scripts)
        self.calls = 0
        self.closed = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamChunk]:
        script = self.scripts[min(self.calls, len(self.scripts) - 1)]
        self.calls += 1
        try:
            for item in script:
                if item is STALL:
                    await asyncio.Event().wait()
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            self.closed += 1

    async def complete(self, request: CompletionRequest) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


OK = [StreamChunk(text="Hello"), StreamChunk(text=", world"), StreamChunk(usage=Usage(5, 3))]
REQUEST = CompletionRequest(model="m", messages=[Message("user", "hi")], max_tokens=100)


def make_policy(
    *,
    t: FakeTime | None = None,
    attempts: int = 4,
    timeouts: TimeoutSettings | None = None,
    threshold: int = 5,
    rpm: float | None = None,
    max_retry_after: float = 60.0,
) -> tuple[ResiliencePolicy, list[Event], FakeTime]:
    t = t or FakeTime(auto=True)
    settings = Settings(
        retry=RetrySettings(
            max_attempts=attempts, base_delay=0.5, jitter=False, max_retry_after=max_retry_after
        ),
        circuit=CircuitSettings(failure_threshold=threshold, reset_timeout=30.0),
        timeouts=timeouts or TimeoutSettings(),
        rate_limits={"fake": RateLimitSettings(requests_per_minute=rpm)} if rpm else {},
    )
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    return ResiliencePolicy(settings, bus, clock=t, sleep=t.sleep), events, t


async def drain(policy: ResiliencePolicy, provider: Any, parts: list[str] | None = None) -> str:
    parts = [] if parts is None else parts
    stream = policy.stream(provider, REQUEST, run_id="r1", step_id="s1")
    async with aclosing(stream):
        async for chunk in stream:
            parts.append(chunk.text)
    return "".join(parts)


async def test_a_healthy_stream_passes_through_unchanged() -> None:
    policy, events, _ = make_policy()
    provider = ScriptedProvider(OK)
    assert await drain(policy, provider) == "Hello, world"
    assert provider.calls == 1 and provider.closed == 1
    assert events == []


async def test_failure_before_any_text_is_retried_transparently() -> None:
    policy, events, t = make_policy()
    overloaded = ProviderError("overloaded", provider="fake", error_type="overloaded_error")
    # A usage-only chunk (message_start) is not text: the retry is still invisible.
    provider = ScriptedProvider([StreamChunk(usage=Usage(5, 0)), overloaded], [perr(529)], OK)
    assert await drain(policy, provider) == "Hello, world"
    assert provider.calls == 3 and provider.closed == 3
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(e.attempt, e.max_attempts, e.delay) for e in retries] == [(2, 4, 0.5), (3, 4, 1.0)]
    assert retries[0].error == "overloaded" and retries[0].run_id == "r1"
    assert t.sleeps == [0.5, 1.0]


async def test_retry_after_is_honoured_as_the_wait() -> None:
    policy, events, t = make_policy()
    provider = ScriptedProvider([perr(429, retry_after=1.0)], OK)
    assert await drain(policy, provider) == "Hello, world"
    assert t.sleeps == [1.0]
    assert [e.delay for e in events if isinstance(e, RetryScheduled)] == [1.0]


async def test_retry_after_beyond_the_cap_gives_up_at_once() -> None:
    policy, events, _ = make_policy(max_retry_after=5.0)
    provider = ScriptedProvider([perr(429, retry_after=30.0)], OK)
    with pytest.raises(RateLimitError, match="asked to wait 30 s"):
        await drain(policy, provider)
    assert provider.calls == 1
    assert not any(isinstance(e, RetryScheduled) for e in events)


async def test_failure_after_text_is_not_retried_and_keeps_the_partial_text() -> None:
    policy, events, _ = make_policy()
    provider = ScriptedProvider([StreamChunk(text="The first half"), perr(529)], OK)
    parts: list[str] = []
    with pytest.raises(ProviderError) as info:
        await drain(policy, provider, parts)
    assert "".join(parts) == "The first half"
    assert info.value.after_output is True
    assert "broke after 14 characters" in str(info.value)
    assert provider.calls == 1
    assert not any(isinstance(e, RetryScheduled) for e in events)


async def test_gives_up_after_max_attempts_with_one_clear_error() -> None:
    policy, events, _ = make_policy(attempts=3)
    provider = ScriptedProvider([perr(500)])
    with pytest.raises(ProviderError) as info:
        await drain(policy, provider)
    assert provider.calls == 3
    assert "gave up after 3 attempts" in str(info.value)
    assert len([e for e in events if isinstance(e, RetryScheduled)]) == 2


async def test_refused_key_sends_one_request_and_says_so() -> None:
    policy, _, _ = make_policy()
    provider = ScriptedProvider([perr(401)], OK)
    with pytest.raises(AuthenticationError, match="refused the API key"):
        await drain(policy, provider)
    assert provider.calls == 1


async def test_first_token_timeout_names_its_kind() -> None:
    timeouts = TimeoutSettings(connect=None, first_token=0.02, idle=10.0, total=None)
    policy, events, _ = make_policy(attempts=2, timeouts=timeouts)
    provider = ScriptedProvider([STALL])
    with pytest.raises(OperationTimeoutError) as info:
        await drain(policy, provider)
    assert info.value.kind == "first_token"
    assert provider.calls == 2 and provider.closed == 2  # retried once, each stream closed


async def test_idle_timeout_after_text_ends_the_stream_with_the_partial_text() -> None:
    timeouts = TimeoutSettings(first_token=10.0, idle=0.02, total=None)
    policy, _, _ = make_policy(timeouts=timeouts)
    provider = ScriptedProvider([StreamChunk(text="partial"), STALL])
    parts: list[str] = []
    with pytest.raises(ProviderError) as info:
        await drain(policy, provider, parts)
    assert parts == ["partial"] and info.value.after_output
    assert isinstance(info.value.__cause__, OperationTimeoutError)
    assert info.value.__cause__.kind == "idle"
    assert "waiting for the next token" in str(info.value)
    assert provider.calls == 1 and provider.closed == 1


async def test_total_timeout_is_final() -> None:
    timeouts = TimeoutSettings(first_token=None, idle=None, total=0.02)
    policy, _, _ = make_policy(timeouts=timeouts)
    provider = ScriptedProvider([STALL])
    with pytest.raises(OperationTimeoutError) as info:
        await drain(policy, provider)
    assert info.value.kind == "total" and info.value.seconds == 0.02
    assert provider.calls == 1


async def test_rate_limit_wait_is_an_event() -> None:
    policy, events, t = make_policy(rpm=60)
    provider = ScriptedProvider(OK)
    await drain(policy, provider)
    await drain(policy, provider)
    waits = [e for e in events if isinstance(e, RateLimitWaiting)]
    assert [(e.provider, e.seconds, e.reason) for e in waits] == [("fake", 1.0, "requests")]
    assert t.sleeps == [pytest.approx(1.0)]


async def test_breaker_opens_fails_fast_then_probes() -> None:
    policy, events, t = make_policy(attempts=1, threshold=2)
    broken = ScriptedProvider([perr(503)])
    for _ in range(2):
        with pytest.raises(ProviderError):
            await drain(policy, broken)
    with pytest.raises(CircuitOpenError, match="tried again in 30.0 s"):
        await drain(policy, broken)
    assert broken.calls == 2  # the open circuit sent nothing
    states = [(e.state, e.run_id) for e in events if isinstance(e, CircuitStateChanged)]
    assert states == [("open", "r1")]
    t.now += 30.0
    healthy = ScriptedProvider(OK)  # same endpoint, now answering
    assert await drain(policy, healthy) == "Hello, world"
    states = [e.state for e in events if isinstance(e, CircuitStateChanged)]
    assert states == ["open", "half_open", "closed"]


async def test_consumer_stopping_early_closes_the_provider_stream() -> None:
    policy, _, _ = make_policy()
    provider = ScriptedProvider(OK)
    stream = policy.stream(provider, REQUEST, run_id="r1", step_id="s1")
    async with aclosing(stream):
        async for _chunk in stream:
            break
    assert provider.closed == 1
    assert policy.breaker_for(provider.endpoint).failures == 0


async def test_cancellation_closes_the_stream_and_leaves_nothing_pending() -> None:
    policy, _, _ = make_policy()
    provider = ScriptedProvider([StreamChunk(text="so far"), STALL])
    parts: list[str] = []
    task = asyncio.create_task(drain(policy, provider, parts))
    await settle()
    assert parts == ["so far"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert provider.closed == 1
    assert parts == ["so far"]
    others = [x for x in asyncio.all_tasks() if x is not asyncio.current_task()]
    assert others == []


async def test_cancellation_while_waiting_for_the_limiter_takes_no_slot() -> None:
    t = FakeTime()
    policy, _, _ = make_policy(t=t, rpm=60)
    provider = ScriptedProvider(OK)
    await drain(policy, provider)
    task = asyncio.create_task(drain(policy, provider))
    await settle()
    assert policy.limiter_for("fake").waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert policy.limiter_for("fake").waiting == 0
    assert provider.calls == 1


async def test_complete_goes_through_the_same_path() -> None:
    policy, _, _ = make_policy()
    provider = ScriptedProvider([perr(502)], OK)
    result = await policy.complete(provider, REQUEST, run_id="r1", step_id="s1")
    assert result.text == "Hello, world"
    assert result.usage == Usage(5, 3)
    assert provider.calls == 2


def test_token_estimate_counts_prompt_and_max_tokens() -> None:
    request = CompletionRequest(model="m", messages=[Message("user", "x" * 400)], max_tokens=50)
    assert estimate_tokens(request) == 101 + 50
