"""The resilience policy around real providers, against a loopback server that misbehaves on cue.

Retry waits and breaker timeouts run on a fake clock (except the one retry-after test, which
waits the real second the server asks for); stream timeouts are real but small.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from support.fake_time import FakeTime
from support.loopback import LoopbackServer, Response, split_events, sse_event

from paracle_engine.config import CircuitSettings, RetrySettings, Settings, TimeoutSettings
from paracle_engine.errors import (
    AuthenticationError,
    CircuitOpenError,
    OperationTimeoutError,
    ProviderError,
    RateLimitError,
)
from paracle_engine.events import CircuitStateChanged, Event, EventBus, RetryScheduled
from paracle_engine.models import CompletionRequest, Message
from paracle_engine.providers.anthropic import AnthropicProvider
from paracle_engine.providers.openai_compat import OpenAICompatProvider
from paracle_engine.resilience.policy import ResiliencePolicy

KEY = "sk-ant-test-0123456789"
FULL_TEXT = "Hello, world! **Streaming** works."
REQUEST = CompletionRequest(
    model="claude-sonnet-4.5", messages=[Message("user", "Say hello")], max_tokens=64
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True, scope="module")
def no_asyncio_errors():
    """Fail on "Task was destroyed but it is pending" and other loop-level errors.

    Collected over the module, with one garbage collection at the end (each costs ~0.1 s).
    """
    handler = _Collect()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    assert handler.messages == []


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer() as srv:
        yield srv


@pytest.fixture
async def anthropic(server: LoopbackServer) -> AsyncIterator[AnthropicProvider]:
    provider = AnthropicProvider(KEY, server.url)
    yield provider
    await provider.aclose()


@pytest.fixture
async def openai(server: LoopbackServer) -> AsyncIterator[OpenAICompatProvider]:
    provider = OpenAICompatProvider("ollama", server.url + "/v1")
    yield provider
    await provider.aclose()


def fixture(fixtures_dir: Path, name: str, **changes: Any) -> Response:
    return Response.from_fixture(fixtures_dir / name, **changes)


class Harness:
    """A policy on a fake clock, with the events it published and the waits it made."""

    def __init__(
        self,
        *,
        attempts: int = 4,
        threshold: int = 5,
        timeouts: TimeoutSettings | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.time = FakeTime(auto=True)
        self.settings = Settings(
            retry=RetrySettings(max_attempts=attempts, base_delay=0.01, jitter=False),
            circuit=CircuitSettings(failure_threshold=threshold, reset_timeout=30.0),
            timeouts=timeouts or TimeoutSettings(),
        )
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.policy = ResiliencePolicy(
            self.settings, self.bus, clock=self.time, sleep=sleep or self.time.sleep
        )

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def run(self, provider: Any, parts: list[str] | None = None) -> str:
        parts = [] if parts is None else parts
        stream = self.policy.stream(provider, REQUEST, run_id="run-1", step_id="step-1")
        async with aclosing(stream):
            async for chunk in stream:
                if chunk.text:
                    parts.append(chunk.text)
        return "".join(parts)


def text_events(fixtures_dir: Path) -> list[bytes]:
    return split_events((fixtures_dir / "anthropic" / "stream-text.sse").read_bytes())


# --------------------------------------------------------------------------- retried, then fine


async def test_429_waits_the_retry_after_the_server_asked_for_then_succeeds(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    limited = fixture(fixtures_dir, "anthropic/error-429.http")
    limited.headers["retry-after"] = "1"
    server.enqueue(limited, fixture(fixtures_dir, "anthropic/stream-text.sse"))
    waits: list[float] = []

    async def real_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    h = Harness(sleep=real_sleep)
    assert await h.run(anthropic) == FULL_TEXT
    assert len(server.requests) == 2
    assert waits == [1.0]
    (retry,) = h.of(RetryScheduled)
    assert (retry.attempt, retry.max_attempts, retry.delay) == (2, 4, 1.0)
    assert "429" in retry.error and retry.provider == "anthropic"


async def test_529_overloaded_is_retried(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.enqueue(
        fixture(fixtures_dir, "anthropic/error-529.http"),
        fixture(fixtures_dir, "anthropic/stream-text.sse"),
    )
    h = Harness()
    assert await h.run(anthropic) == FULL_TEXT
    assert len(server.requests) == 2
    assert h.time.sleeps == [0.01]
    assert "Overloaded" in h.of(RetryScheduled)[0].error


async def test_error_event_before_the_first_delta_is_retried_transparently(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.enqueue(
        fixture(fixtures_dir, "anthropic/stream-overloaded-before-delta.sse"),
        fixture(fixtures_dir, "anthropic/stream-text.sse"),
    )
    h = Harness()
    parts: list[str] = []
    assert await h.run(anthropic, parts) == FULL_TEXT
    assert len(server.requests) == 2
    assert "overloaded_error" in h.of(RetryScheduled)[0].error


async def test_connection_dropped_before_any_text_is_retried(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.enqueue(
        fixture(fixtures_dir, "anthropic/stream-text.sse", drop_after=0),
        fixture(fixtures_dir, "anthropic/stream-text.sse"),
    )
    h = Harness()
    assert await h.run(anthropic) == FULL_TEXT
    assert len(server.requests) == 2


async def test_retry_after_ms_from_an_openai_compatible_server(
    server: LoopbackServer, openai: OpenAICompatProvider, fixtures_dir: Path
) -> None:
    busy = Response.json(
        {"error": {"message": "slow down", "type": "rate_limit_error"}},
        status=429,
        headers={"retry-after-ms": "250"},
    )
    server.enqueue(busy, fixture(fixtures_dir, "openai/stream-text.sse"))
    h = Harness()
    assert await h.run(openai) == "Hello, world!"
    assert h.time.sleeps == [0.25]
    assert len(server.requests) == 2


async def test_x_should_retry_false_is_obeyed(
    server: LoopbackServer, openai: OpenAICompatProvider, fixtures_dir: Path
) -> None:
    server.enqueue(
        Response.json(
            {"error": {"message": "nope", "type": "server_error"}},
            status=503,
            headers={"x-should-retry": "false"},
        ),
        fixture(fixtures_dir, "openai/stream-text.sse"),
    )
    with pytest.raises(ProviderError, match="503"):
        await Harness().run(openai)
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- not retried


async def test_refused_key_sends_one_request_and_says_the_key_was_refused(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.default = fixture(fixtures_dir, "anthropic/error-401.http")
    h = Harness()
    with pytest.raises(AuthenticationError) as info:
        await h.run(anthropic)
    assert len(server.requests) == 1
    assert "refused the API key" in str(info.value)
    assert KEY not in info.value.one_line()
    assert h.of(RetryScheduled) == []


async def test_retry_after_beyond_the_cap_gives_up_saying_how_long_the_server_asked(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    limited = fixture(fixtures_dir, "anthropic/error-429.http")
    limited.headers["retry-after"] = "3600"
    server.enqueue(limited, fixture(fixtures_dir, "anthropic/stream-text.sse"))
    h = Harness()
    with pytest.raises(RateLimitError, match="asked to wait 3600 s") as info:
        await h.run(anthropic)
    assert "max_retry_after" in (info.value.hint or "")
    assert len(server.requests) == 1
    assert h.time.sleeps == []


async def test_error_event_after_the_first_delta_keeps_the_partial_text(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.default = fixture(fixtures_dir, "anthropic/stream-overloaded-after-delta.sse")
    h = Harness()
    parts: list[str] = []
    with pytest.raises(ProviderError) as info:
        await h.run(anthropic, parts)
    assert parts == ["The first half of an answer"]
    assert info.value.after_output is True
    assert "broke after 27 characters" in str(info.value)
    assert len(server.requests) == 1
    assert h.of(RetryScheduled) == []


async def test_connection_dropped_mid_stream_keeps_the_partial_text(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    # Cut the answer inside the second delta: "Hello" got through, the rest never comes.
    events = text_events(fixtures_dir)
    cut = sum(len(e) for e in events[:4]) + 20
    server.default = fixture(fixtures_dir, "anthropic/stream-text.sse", drop_after=cut)
    h = Harness()
    parts: list[str] = []
    with pytest.raises(ProviderError) as info:
        await h.run(anthropic, parts)
    assert parts == ["Hello"]
    assert info.value.after_output and "broke after 5 characters" in str(info.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("wire", ["anthropic", "openai"])
async def test_malformed_sse_is_a_clear_error_not_a_crash(
    wire: str,
    server: LoopbackServer,
    anthropic: AnthropicProvider,
    openai: OpenAICompatProvider,
    fixtures_dir: Path,
) -> None:
    if wire == "anthropic":
        provider: Any = anthropic
        start = text_events(fixtures_dir)[0]  # message_start
        bad = Response.sse([start, b"event: content_block_delta\ndata: {not json\n\n"])
        good = fixture(fixtures_dir, "anthropic/stream-text.sse")
    else:
        provider = openai
        bad = Response.sse([b"data: {not json\n\n"])
        good = fixture(fixtures_dir, "openai/stream-text.sse")
    server.enqueue(bad, good)
    h = Harness()
    with pytest.raises(ProviderError, match="malformed stream data") as info:
        await h.run(provider)
    assert not info.value.after_output
    assert len(server.requests) == 1  # the same bytes would come back: not retried
    # The policy and the provider stay usable.
    assert await h.run(provider) in (FULL_TEXT, "Hello, world!")


# --------------------------------------------------------------------------- failing endpoint


async def test_500_forever_gives_up_then_the_breaker_opens_and_probes(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.default = Response.json(
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        status=500,
    )
    h = Harness(attempts=3, threshold=3)
    with pytest.raises(ProviderError) as info:
        await h.run(anthropic)
    assert "gave up after 3 attempts" in str(info.value) and info.value.status == 500
    assert len(server.requests) == 3
    assert [(e.attempt, e.max_attempts) for e in h.of(RetryScheduled)] == [(2, 3), (3, 3)]

    # The endpoint failed three times in a row: the next call fails at once, sending nothing.
    with pytest.raises(CircuitOpenError, match=r"tried again in 30\.0 s"):
        await h.run(anthropic)
    assert len(server.requests) == 3
    opened = h.of(CircuitStateChanged)
    assert [(e.state, e.endpoint, e.run_id) for e in opened] == [
        ("open", anthropic.endpoint, "run-1")
    ]

    # After the reset timeout one probe goes out; it fails, so the circuit opens again.
    h.time.now += 30.0
    with pytest.raises(CircuitOpenError):
        await h.run(anthropic)
    assert len(server.requests) == 4
    assert [e.state for e in h.of(CircuitStateChanged)] == ["open", "half_open", "open"]

    # The endpoint recovers: the next probe succeeds and closes the circuit.
    server.default = fixture(fixtures_dir, "anthropic/stream-text.sse")
    h.time.now += 30.0
    assert await h.run(anthropic) == FULL_TEXT
    assert [e.state for e in h.of(CircuitStateChanged)][-2:] == ["half_open", "closed"]


# --------------------------------------------------------------------------- timeouts


async def test_stall_after_headers_fires_the_first_token_timeout(
    server: LoopbackServer, anthropic: AnthropicProvider
) -> None:
    server.default = Response.stalled()
    timeouts = TimeoutSettings(connect=None, first_token=0.2, idle=30.0, total=None)
    h = Harness(attempts=2, timeouts=timeouts)
    with pytest.raises(OperationTimeoutError) as info:
        await h.run(anthropic)
    assert info.value.kind == "first_token"
    assert "waiting for the first token" in str(info.value)
    assert len(server.requests) == 2  # a slow attempt is worth one more try
    await server.wait_for_disconnect(2)  # and each stalled response was hung up on


async def test_stall_after_the_first_delta_fires_the_idle_timeout(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.default = fixture(fixtures_dir, "anthropic/stream-text.sse").stalling_after(4)
    timeouts = TimeoutSettings(first_token=30.0, idle=0.2, total=None)
    h = Harness(timeouts=timeouts)
    parts: list[str] = []
    with pytest.raises(ProviderError) as info:
        await h.run(anthropic, parts)
    assert parts == ["Hello"]
    assert info.value.after_output
    cause = info.value.__cause__
    assert isinstance(cause, OperationTimeoutError) and cause.kind == "idle"
    assert len(server.requests) == 1
    await server.wait_for_disconnect(1)


async def test_total_timeout_ends_a_slow_trickle(
    server: LoopbackServer, openai: OpenAICompatProvider
) -> None:
    # Each chunk comes well within the idle limit, but the whole never ends.
    empty = {"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": None}]}
    server.default = Response.sse([sse_event(empty), *[0.05, sse_event(empty)] * 100])
    timeouts = TimeoutSettings(first_token=30.0, idle=30.0, total=0.3)
    with pytest.raises(OperationTimeoutError) as info:
        await Harness(timeouts=timeouts).run(openai)
    assert info.value.kind == "total"
    assert len(server.requests) == 1
    await server.wait_for_disconnect(1)


# --------------------------------------------------------------------------- cancellation


async def test_cancellation_mid_stream_hangs_up_and_releases_everything(
    server: LoopbackServer, anthropic: AnthropicProvider, fixtures_dir: Path
) -> None:
    server.default = fixture(fixtures_dir, "anthropic/stream-text.sse").stalling_after(4)
    h = Harness()
    parts: list[str] = []
    got_text = asyncio.Event()

    async def consume() -> None:
        stream = h.policy.stream(anthropic, REQUEST, run_id="run-1", step_id="step-1")
        async with aclosing(stream):
            async for chunk in stream:
                parts.append(chunk.text)
                got_text.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await got_text.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await server.wait_for_disconnect(1)
    assert parts == ["Hello"]
    assert h.policy.breaker_for(anthropic.endpoint).failures == 0
    assert h.policy.limiter_for(anthropic.name).waiting == 0
    assert h.of(RetryScheduled) == []
    # The provider is still fine for the next call on the same pooled client.
    server.default = fixture(fixtures_dir, "anthropic/stream-text.sse")
    assert await h.run(anthropic) == FULL_TEXT
