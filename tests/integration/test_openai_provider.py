"""The OpenAI-compatible provider against a loopback server serving recorded wire bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer, Response, sse_event

from paracle_engine.config import Settings
from paracle_engine.errors import AuthenticationError, ProviderError, RateLimitError
from paracle_engine.models import CompletionRequest, Message, StreamChunk, Usage
from paracle_engine.providers.base import LLMProvider
from paracle_engine.providers.openai_compat import OpenAICompatProvider
from paracle_engine.providers.registry import ProviderRegistry


def request(system: str = "Be brief.") -> CompletionRequest:
    return CompletionRequest(
        model="llama3.2", messages=[Message("user", "Say hello")], system=system
    )


@pytest.fixture
def wire(fixtures_dir: Path) -> Path:
    return fixtures_dir / "openai"


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider("ollama", f"{loopback.url}/v1", "ollama-key", key_env="OLLAMA_API_KEY")
    yield p
    await p.aclose()


async def drain(provider: LLMProvider, texts: list[str] | None = None) -> list[StreamChunk]:
    chunks = []
    async for chunk in provider.stream(request()):
        chunks.append(chunk)
        if texts is not None and chunk.text:
            texts.append(chunk.text)
    return chunks


async def test_stream_text_and_the_request_on_the_wire(
    loopback: LoopbackServer, provider: OpenAICompatProvider, wire: Path
) -> None:
    assert isinstance(provider, LLMProvider)
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse"))
    chunks = await drain(provider)
    assert [c.text for c in chunks if c.text] == ["Hello", ", world!"]
    assert chunks[-1].usage == Usage(9, 4)
    assert chunks[-1].stop_reason == "stop"

    [sent] = loopback.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer ollama-key"
    assert sent.json["model"] == "llama3.2"
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]


async def test_quirky_stream_null_choices_missing_choices_and_comments(
    loopback: LoopbackServer, provider: OpenAICompatProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "stream-quirks.sse"))
    result = await provider.complete(request())
    assert result.text == "Quirky servers"
    assert result.usage == Usage(5, 2)
    assert result.provider == "ollama"


async def test_no_authorization_header_without_a_key(loopback: LoopbackServer, wire: Path) -> None:
    provider = OpenAICompatProvider("llamacpp", loopback.url)
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse"))
    try:
        assert (await provider.complete(request(system=""))).text == "Hello, world!"
    finally:
        await provider.aclose()
    [sent] = loopback.requests
    assert "authorization" not in sent.headers
    assert sent.path == "/chat/completions"
    assert sent.json["messages"] == [{"role": "user", "content": "Say hello"}]


async def test_registry_pools_one_connection_for_successive_calls(
    loopback: LoopbackServer, wire: Path
) -> None:
    registry = ProviderRegistry(Settings())
    try:
        provider = await registry.get("vllm", base_url=f"{loopback.url}/v1")
        same_url = await registry.get("lmstudio", base_url=f"{loopback.url}/v1")
        assert isinstance(provider, OpenAICompatProvider) and isinstance(
            same_url, OpenAICompatProvider
        )
        assert provider.client is same_url.client
        loopback.enqueue(
            Response.from_fixture(wire / "stream-text.sse"),
            Response.from_fixture(wire / "stream-quirks.sse"),
            Response.from_fixture(wire / "stream-text.sse"),
        )
        assert (await provider.complete(request())).text == "Hello, world!"
        assert (await provider.complete(request())).text == "Quirky servers"
        assert (await same_url.complete(request())).text == "Hello, world!"
    finally:
        await registry.aclose()
    assert len(loopback.requests) == 3
    assert loopback.connections == 1


async def test_a_malformed_data_line_is_skipped_with_a_warning(
    loopback: LoopbackServer,
    provider: OpenAICompatProvider,
    wire: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The Anthropic provider skips such a line too (tests/integration/test_provider_answers.py).
    good = (wire / "stream-text.sse").read_bytes().split(b"\n\n")[1] + b"\n\n"
    loopback.enqueue(Response.sse([good, b'data: {"choices": [\n\n']))
    texts: list[str] = []
    with caplog.at_level("WARNING", "paracle_engine.providers"):
        await drain(provider, texts)
    assert texts == ["Hello"]
    [record] = [r for r in caplog.records if r.name == "paracle_engine.providers"]
    assert record.getMessage().startswith(f"ollama at {loopback.url}/v1/chat/completions: skipped")


async def test_error_object_inside_the_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    body = {"error": {"message": "model is overloaded", "type": "server_error"}}
    loopback.enqueue(Response.sse([sse_event(body)]))
    with pytest.raises(ProviderError) as caught:
        await drain(provider)
    assert (caught.value.error_type, caught.value.status) == ("server_error", None)


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (429, {"retry-after": "2"}, RateLimitError, 2.0),
        (429, {"retry-after-ms": "250"}, RateLimitError, 0.25),
        (401, {}, AuthenticationError, None),
        (503, {"x-should-retry": "false"}, ProviderError, None),
    ],
)
async def test_error_statuses(
    loopback: LoopbackServer,
    provider: OpenAICompatProvider,
    status: int,
    headers: dict[str, str],
    kind: type[ProviderError],
    retry_after: float | None,
) -> None:
    body = {"error": {"message": "nope ollama-key", "type": "some_error", "code": None}}
    loopback.enqueue(Response.json(body, status=status, headers=headers))
    with pytest.raises(kind) as caught:
        await drain(provider)
    err = caught.value
    assert (err.status, err.error_type, err.retry_after) == (status, "some_error", retry_after)
    assert "ollama-key" not in err.one_line()
    if status == 401:
        assert "paracle keys set ollama" in (err.hint or "") and "OLLAMA_API_KEY" in (
            err.hint or ""
        )
    if status == 503:
        assert err.should_retry is False


async def test_plain_string_error_body(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(Response.json({"error": "model 'llama9' not found"}, status=404))
    with pytest.raises(ProviderError, match="model 'llama9' not found") as caught:
        await drain(provider)
    assert caught.value.status == 404


async def test_server_that_ignores_stream_true(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Whole answer"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    loopback.enqueue(Response.json(completion))
    result = await provider.complete(request())
    assert (result.text, result.usage, result.stop_reason) == ("Whole answer", Usage(3, 2), "stop")


async def test_connection_dropped_mid_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider, wire: Path
) -> None:
    raw = (wire / "stream-text.sse").read_bytes()
    cut = raw.index(b"data:", raw.index(b'"Hello"'))
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse", drop_after=cut))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(provider, texts)
    assert texts == ["Hello"]
    assert (caught.value.error_type, caught.value.after_output) == ("connection", True)


async def test_cancelling_the_consumer_closes_the_connection(
    loopback: LoopbackServer, provider: OpenAICompatProvider, wire: Path
) -> None:
    loopback.enqueue(Response.from_fixture(wire / "stream-text.sse").stalling_after(2))
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in provider.stream(request()):
            if chunk.text:
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await loopback.wait_for_disconnect()


async def test_nobody_listening_is_a_connection_error() -> None:
    async with LoopbackServer() as gone:
        url = gone.url
    provider = OpenAICompatProvider("vllm", url)
    try:
        with pytest.raises(ProviderError) as caught:
            await drain(provider)
    finally:
        await provider.aclose()
    assert caught.value.error_type == "connection"
