"""The Anthropic provider against a loopback server serving recorded wire bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer, Response

from paracle_engine.errors import AuthenticationError, ProviderError, RateLimitError
from paracle_engine.models import CompletionRequest, Message, StreamChunk, Usage
from paracle_engine.providers.anthropic import AnthropicProvider, api_model_id
from paracle_engine.providers.base import LLMProvider

KEY = "sk-ant-test-0123456789-SECRET"


def request(model: str = "claude-sonnet-4.5") -> CompletionRequest:
    return CompletionRequest(
        model=model, messages=[Message("user", "Say hello")], system="Be brief.", temperature=0.2
    )


@pytest.fixture
def wire(fixtures_dir: Path) -> Path:
    return fixtures_dir / "anthropic"


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(KEY, loopback.url)
    yield p
    await p.aclose()


async def drain(provider: AnthropicProvider, texts: list[str] | None = None) -> list[StreamChunk]:
    chunks = []
    async for chunk in provider.stream(request()):
        chunks.append(chunk)
        if texts is not None and chunk.text:
            texts.append(chunk.text)
    return chunks


def test_model_ids_map_to_the_apis_spelling() -> None:
    assert api_model_id("claude-sonnet-4.5") == "claude-sonnet-4-5"
    assert api_model_id("claude-haiku-4.5") == "claude-haiku-4-5"
    assert api_model_id("claude-opus-4") == "claude-opus-4"
    assert api_model_id("claude-3.5-sonnet") == "claude-3-5-sonnet-latest"
    assert api_model_id("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5-20250929"
    assert api_model_id("my.custom-model") == "my.custom-model"


async def test_stream_yields_each_delta_then_usage(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    assert isinstance(provider, LLMProvider)
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse"))
    chunks = await drain(provider)
    assert [c.text for c in chunks if c.text] == ["Hello", ", world", "! **Streaming** works."]
    assert chunks[-1].usage == Usage(25, 12)
    assert chunks[-1].stop_reason == "end_turn"

    [sent] = loopback.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    # SDK 2.x sends the key as a bearer token; older ones used x-api-key.
    assert (
        sent.headers.get("x-api-key") == KEY or sent.headers.get("authorization") == f"Bearer {KEY}"
    )
    assert sent.json["model"] == "claude-sonnet-4-5"
    assert sent.json["stream"] is True
    assert sent.json["system"] == "Be brief."
    assert "temperature" not in sent.json  # the API of SDK 2.x has no sampling parameters
    assert sent.json["messages"] == [{"role": "user", "content": "Say hello"}]
    assert loopback.disconnects == []


async def test_complete_reads_one_message(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "message.json"))
    result = await provider.complete(request())
    assert result.text == "Hello, world! **Streaming** works."
    assert result.usage == Usage(25, 12)
    assert (result.provider, result.model, result.stop_reason) == (
        "anthropic",
        "claude-sonnet-4.5",
        "end_turn",
    )
    assert "stream" not in loopback.requests[0].json


async def test_tool_use_stream_yields_only_its_text(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "stream-tool-use.sse"))
    chunks = await drain(provider)
    assert [c.text for c in chunks if c.text] == ["Let me read that file."]
    assert chunks[-1].usage == Usage(472, 89)
    assert chunks[-1].stop_reason == "tool_use"


async def test_401_is_an_authentication_error_that_never_shows_the_key(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "error-401.http"))
    with pytest.raises(AuthenticationError) as caught:
        await drain(provider)
    err = caught.value
    assert (err.status, err.error_type, err.provider) == (401, "authentication_error", "anthropic")
    assert "paracle keys set anthropic" in (err.hint or "")
    assert "ANTHROPIC_API_KEY" in (err.hint or "")
    assert KEY not in err.one_line() and KEY not in repr(err.args)


async def test_429_is_a_rate_limit_error_with_retry_after(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "error-429.http"))
    with pytest.raises(RateLimitError) as caught:
        await drain(provider)
    assert (caught.value.status, caught.value.error_type) == (429, "rate_limit_error")
    assert caught.value.retry_after == 2.0


async def test_529_and_its_headers_reach_the_retry_policy(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    overloaded = Response.from_fixture(wire / "error-529.http")
    overloaded.headers.update({"retry-after-ms": "1500", "x-should-retry": "true"})
    loopback.enqueue(overloaded)
    with pytest.raises(ProviderError) as caught:
        await drain(provider)
    err = caught.value
    assert not isinstance(err, RateLimitError | AuthenticationError)
    assert (err.status, err.error_type) == (529, "overloaded_error")
    assert (err.retry_after, err.should_retry, err.after_output) == (1.5, True, False)


async def test_complete_translates_errors_too(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "error-429.http"))
    with pytest.raises(RateLimitError):
        await provider.complete(request())


async def test_error_event_before_any_delta(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "stream-overloaded-before-delta.sse"))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(provider, texts)
    assert texts == []
    assert (caught.value.error_type, caught.value.status) == ("overloaded_error", None)
    assert caught.value.after_output is False


async def test_error_event_after_a_delta(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "stream-overloaded-after-delta.sse"))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(provider, texts)
    assert texts == ["The first half of an answer"]
    assert caught.value.error_type == "overloaded_error"
    assert caught.value.after_output is True


async def test_cancelling_the_consumer_closes_the_connection(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    # message_start, content_block_start, ping, the first delta; then the server goes quiet.
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse").stalling_after(4))
    first = asyncio.Event()
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in provider.stream(request()):
            seen.append(chunk.text)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await loopback.wait_for_disconnect()
    assert seen == ["Hello"]


async def test_connection_dropped_mid_stream_is_a_connection_error(
    loopback: LoopbackServer, provider: AnthropicProvider, wire: Path
) -> None:
    fixture = (wire / "stream-text.sse").read_bytes()
    cut = fixture.index(b"event: content_block_delta", fixture.index(b'"Hello"'))
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse", drop_after=cut))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(provider, texts)
    assert texts == ["Hello"]
    assert caught.value.error_type == "connection"
    assert caught.value.after_output is True


async def test_a_silent_server_times_out(loopback: LoopbackServer) -> None:
    loopback.enqueue(Response.stalled())
    provider = AnthropicProvider(KEY, loopback.url, read_timeout=0.2)
    try:
        with pytest.raises(ProviderError) as caught:
            await drain(provider)
    finally:
        await provider.aclose()
    assert caught.value.error_type == "timeout"
    await loopback.wait_for_disconnect()


async def test_nobody_listening_is_a_connection_error() -> None:
    async with LoopbackServer() as gone:
        url = gone.url
    provider = AnthropicProvider(KEY, url)
    try:
        with pytest.raises(ProviderError) as caught:
            await drain(provider)
    finally:
        await provider.aclose()
    assert caught.value.error_type == "connection"
    assert KEY not in caught.value.one_line()


async def test_anthropic_base_url_is_honoured_when_none_is_configured(
    loopback: LoopbackServer, wire: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.url)
    provider = AnthropicProvider(KEY)
    try:
        assert provider.endpoint == loopback.url
        loopback.enqueue(Response.from_fixture(wire / "message.json"))
        assert (await provider.complete(request())).text == "Hello, world! **Streaming** works."
        # A server that streams where one message was asked: the stream is the answer.
        loopback.enqueue(Response.from_fixture(wire / "stream-text.sse"))
        result = await provider.complete(request())
        assert (result.text, result.usage) == ("Hello, world! **Streaming** works.", Usage(25, 12))
    finally:
        await provider.aclose()
    assert len(loopback.requests) == 2
