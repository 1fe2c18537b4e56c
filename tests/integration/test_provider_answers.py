"""Both providers check what a 200 brought before trusting it, against a loopback server.

An HTML page is not an answer, an answer has a size cap (a gzip body included), invalid
UTF-8 and garbage lines are survived the same way with one warning, and nothing internal
(AssertionError, IndexError, UnicodeDecodeError) reaches a person.
"""

from __future__ import annotations

import gzip
import json
import logging
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.loopback import STALL, LoopbackServer, Response, sse_event

from paracle_engine.config import Settings
from paracle_engine.errors import ProviderError
from paracle_engine.events import EventBus
from paracle_engine.models import CompletionRequest, Message, Usage
from paracle_engine.providers.anthropic import AnthropicProvider
from paracle_engine.providers.openai_compat import OpenAICompatProvider
from paracle_engine.resilience.policy import ResiliencePolicy

KEY = "sk-ant-test-answers-0123456789-SECRET"
CAP = 64 * 1024
WIRES = ["anthropic", "openai"]
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}

PORTAL = (
    b"<html><head><title>Welcome to Airport Wi-Fi</title></head>"
    b"<body><form action=/login>Please log in\x1b]52;c;ZXZpbA==\x07</form></body></html>"
)


def request() -> CompletionRequest:
    return CompletionRequest(model="claude-sonnet-4.5", messages=[Message("user", "Say hello")])


@pytest.fixture
async def make(loopback: LoopbackServer) -> AsyncIterator[Any]:
    made: list[Any] = []

    def build(wire: str, *, max_answer_chars: int = CAP) -> Any:
        if wire == "anthropic":
            provider: Any = AnthropicProvider(KEY, loopback.url, max_answer_chars=max_answer_chars)
        else:
            provider = OpenAICompatProvider(
                "ollama", f"{loopback.url}/v1", KEY, max_answer_chars=max_answer_chars
            )
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


async def drain(provider: Any, texts: list[str]) -> list[Any]:
    chunks = []
    async for chunk in provider.stream(request()):
        chunks.append(chunk)
        if chunk.text:
            texts.append(chunk.text)
    return chunks


def delta(wire: str, text: str) -> bytes:
    """One text delta event of the wire format."""
    if wire == "anthropic":
        return sse_event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            },
            event="content_block_delta",
        )
    return sse_event({"choices": [{"index": 0, "delta": {"content": text}}]})


def opening(wire: str) -> list[bytes]:
    if wire == "openai":
        return []
    return [
        sse_event(
            {
                "type": "message_start",
                "message": {
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "usage": {"input_tokens": 7, "output_tokens": 1},
                },
            },
            event="message_start",
        ),
        sse_event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            event="content_block_start",
        ),
    ]


def closing(wire: str) -> list[bytes]:
    if wire == "openai":
        return [
            sse_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            b"data: [DONE]\n\n",
        ]
    return [
        sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 5},
            },
            event="message_delta",
        ),
        sse_event({"type": "message_stop"}, event="message_stop"),
    ]


def provider_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "paracle_engine.providers" and r.levelno == logging.WARNING
    ]


# --------------------------------------------------------------------------- not an answer


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/html; charset=utf-8"}, {}, {"content-type": "text/plain"}],
    ids=["html", "no-type", "text-plain"],
)
async def test_an_html_page_with_200_is_a_clear_error(
    wire: str, headers: dict[str, str], loopback: LoopbackServer, make: Any
) -> None:
    loopback.enqueue(Response(headers=headers, body=PORTAL))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(make(wire), texts)
    err = caught.value
    text = err.one_line()
    assert err.provider == ("anthropic" if wire == "anthropic" else "ollama")
    assert err.provider in text
    assert f"{loopback.url}{PATHS[wire]}" in text
    assert "<html><head><title>Welcome" in text
    assert "\x1b" not in text and "\x07" not in text  # the snippet is terminal-safe
    assert (err.endpoint, err.status, err.error_type) == (loopback.url, 200, "unexpected_content")
    assert err.should_retry is False
    assert texts == [] and err.after_output is False


@pytest.mark.parametrize("wire", WIRES)
async def test_an_html_200_is_not_retried_by_the_policy(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    loopback.default = Response(headers={"content-type": "text/html"}, body=PORTAL)
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = ResiliencePolicy(Settings(), EventBus(), sleep=no_sleep)
    with pytest.raises(ProviderError, match="instead of an event stream"):
        await policy.complete(make(wire), request(), run_id="r", step_id="s")
    assert len(loopback.requests) == 1 and waits == []


@pytest.mark.parametrize("wire", WIRES)
async def test_an_empty_200_is_an_error_not_an_empty_answer(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    loopback.enqueue(Response(headers={"content-type": "text/event-stream"}, body=b""))
    with pytest.raises(ProviderError, match="the body was empty") as caught:
        await drain(make(wire), [])
    assert caught.value.endpoint == loopback.url


async def test_anthropic_reads_a_json_message_where_a_stream_was_asked(
    loopback: LoopbackServer, make: Any, fixtures_dir: Path
) -> None:
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "message.json"))
    texts: list[str] = []
    chunks = await drain(make("anthropic"), texts)
    assert texts == ["Hello, world! **Streaming** works."]
    assert (chunks[-1].usage, chunks[-1].stop_reason) == (Usage(25, 12), "end_turn")
    assert loopback.requests[0].json["stream"] is True


@pytest.mark.parametrize(
    "body",
    [b'{"id": "x", "object": "list"}', b'"just a string"', b"{not json at all"],
    ids=["other-object", "string", "broken"],
)
async def test_anthropic_json_that_is_not_a_message_is_a_clear_error(
    body: bytes, loopback: LoopbackServer, make: Any
) -> None:
    loopback.enqueue(Response(headers={"content-type": "application/json"}, body=body))
    with pytest.raises(ProviderError) as caught:
        await drain(make("anthropic"), [])
    err = caught.value
    assert f"{loopback.url}/v1/messages" in err.one_line()
    assert (err.provider, err.endpoint, err.error_type) == ("anthropic", loopback.url, "malformed")


async def test_anthropic_error_object_in_a_200_json_body(
    loopback: LoopbackServer, make: Any
) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    loopback.enqueue(Response.json(body))
    with pytest.raises(ProviderError) as caught:
        await drain(make("anthropic"), [])
    assert caught.value.error_type == "overloaded_error"


# --------------------------------------------------------------------------- sloppy streams


async def test_anthropic_delta_before_its_content_block_start(
    loopback: LoopbackServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    start = opening("anthropic")[0]
    loopback.enqueue(
        Response.sse(
            [start, delta("anthropic", "early"), delta("anthropic", " text"), *closing("anthropic")]
        )
    )
    texts: list[str] = []
    with caplog.at_level(logging.WARNING, "paracle_engine.providers"):
        chunks = await drain(make("anthropic"), texts)
    assert texts == ["early", " text"]
    assert (chunks[-1].usage, chunks[-1].stop_reason) == (Usage(7, 5), "end_turn")
    [warning] = provider_warnings(caplog)
    assert "before its content_block_start" in warning


@pytest.mark.parametrize("wire", WIRES)
async def test_invalid_utf8_becomes_u_fffd_with_one_warning(
    wire: str, loopback: LoopbackServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bad = delta(wire, "caf@ ok").replace(b"@", b"\xff\xfe")
    also_bad = delta(wire, " and @").replace(b"@", b"\xc3")
    loopback.enqueue(
        Response.sse([*opening(wire), bad, also_bad, delta(wire, " \u20ac"), *closing(wire)])
    )
    texts: list[str] = []
    with caplog.at_level(logging.WARNING, "paracle_engine.providers"):
        await drain(make(wire), texts)
    assert "".join(texts) == "caf\ufffd\ufffd ok and \ufffd \u20ac"
    [warning] = provider_warnings(caplog)
    assert "invalid UTF-8" in warning and loopback.url in warning


@pytest.mark.parametrize("wire", WIRES)
async def test_garbage_data_lines_are_skipped_with_one_warning(
    wire: str, loopback: LoopbackServer, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = [b'data: {"choices": [\n\n', b"data: <html>\x1b[2J\n\n", b"data: 42\n\n"]
    loopback.enqueue(
        Response.sse(
            [*opening(wire), delta(wire, "Hello"), *garbage, delta(wire, ", world"), *closing(wire)]
        )
    )
    texts: list[str] = []
    with caplog.at_level(logging.WARNING, "paracle_engine.providers"):
        chunks = await drain(make(wire), texts)
    assert texts == ["Hello", ", world"]
    assert chunks[-1].stop_reason in ("stop", "end_turn")
    [warning] = provider_warnings(caplog)
    assert "not a JSON object" in warning and '{"choices": [' in warning


@pytest.mark.parametrize("wire", WIRES)
async def test_a_stream_of_nothing_but_garbage_is_an_error(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    loopback.enqueue(Response.sse([b"data: {nope\n\n", b"data: still nope\n\n"]))
    with pytest.raises(ProviderError, match="malformed stream data") as caught:
        await drain(make(wire), [])
    assert caught.value.endpoint == loopback.url


# --------------------------------------------------------------------------- size


def big_stream(wire: str, chars: int, piece: int = 1000) -> list[bytes]:
    return [*opening(wire), *(delta(wire, "x" * piece) for _ in range(chars // piece))]


@pytest.mark.parametrize("wire", WIRES)
async def test_an_answer_over_the_cap_stops_with_the_text_so_far(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    # 300 KB of text, then a server that would keep the connection open for ever.
    loopback.enqueue(Response.sse([*big_stream(wire, 300_000), STALL]))
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        await drain(make(wire), texts)
    err = caught.value
    assert len("".join(texts)) == CAP  # everything up to the cap, nothing past it
    assert (err.error_type, err.after_output, err.should_retry) == ("too_large", True, False)
    assert err.endpoint == loopback.url and str(CAP) in err.one_line()
    assert "max_answer_chars" in (err.hint or "")
    await loopback.wait_for_disconnect()  # the client hung up instead of reading on


@pytest.mark.parametrize("wire", WIRES)
async def test_the_policy_keeps_the_partial_text_of_an_oversize_answer(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    loopback.default = Response.sse([*big_stream(wire, 100_000), STALL])
    policy = ResiliencePolicy(Settings(), EventBus())
    texts: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in policy.stream(make(wire), request(), run_id="r", step_id="s"):
            texts.append(chunk.text)
    assert len("".join(texts)) == CAP
    assert caught.value.after_output is True
    assert "partial answer was kept" in (caught.value.hint or "")
    assert "max_answer_chars" in (caught.value.hint or "")
    assert len(loopback.requests) == 1


def gzip_bomb(wire: str, decompressed: int) -> list[bytes]:
    """An SSE stream of ``decompressed`` bytes of deltas, gzip-compressed, in 16 KiB chunks."""
    block = b"".join(delta(wire, "y" * 4000) for _ in range(256))  # about 1 MB
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    out = [packer.compress(b"".join(opening(wire)))]
    for _ in range(decompressed // len(block)):
        out.append(packer.compress(block))
    out.append(packer.flush())
    raw = b"".join(out)
    return [raw[i : i + 16384] for i in range(0, len(raw), 16384)]


@pytest.mark.parametrize("wire", WIRES)
async def test_a_gzip_bomb_is_stopped_at_the_cap_without_inflating_it(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    chunks = gzip_bomb(wire, 128 * 1024 * 1024)
    compressed = sum(len(c) for c in chunks)
    assert compressed < 2 * 1024 * 1024  # 128 MB of text in a small body
    loopback.enqueue(
        Response(
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
            body=[*chunks, STALL],
        )
    )
    provider = make(wire)
    texts: list[str] = []
    tracemalloc.start()
    try:
        with pytest.raises(ProviderError) as caught:
            await drain(provider, texts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len("".join(texts)) == CAP
    assert (caught.value.error_type, caught.value.after_output) == ("too_large", True)
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while reading a {compressed}-byte body"
    await loopback.wait_for_disconnect()


@pytest.mark.parametrize("wire", WIRES)
async def test_a_gzip_answer_under_the_cap_is_read(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    body = gzip.compress(b"".join([*opening(wire), delta(wire, "zipped"), *closing(wire)]))
    loopback.enqueue(
        Response(
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"}, body=body
        )
    )
    texts: list[str] = []
    await drain(make(wire), texts)
    assert texts == ["zipped"]
    # Only what can be inflated in bounded steps is offered.
    assert loopback.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("wire", WIRES)
async def test_a_corrupt_gzip_body_is_a_provider_error(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    body = gzip.compress(b"".join([*opening(wire), delta(wire, "zipped")]))
    loopback.enqueue(
        Response(
            headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
            body=body[:12] + b"\x00garbage\xff" * 8,
        )
    )
    with pytest.raises(ProviderError) as caught:
        await drain(make(wire), [])
    assert caught.value.endpoint == loopback.url
    assert "decompress" in caught.value.one_line()


@pytest.mark.parametrize("wire", WIRES)
async def test_one_endless_event_is_stopped_too(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    endless = [b'data: {"a": "' + b"z" * 65536 for _ in range(20)]  # 1.3 MB, no line end
    loopback.enqueue(Response.sse([*opening(wire), *endless, STALL]))
    with pytest.raises(ProviderError) as caught:
        await drain(make(wire), [])
    assert caught.value.error_type == "too_large"
    await loopback.wait_for_disconnect()


async def test_the_default_cap_is_8_mi_characters_and_configurable() -> None:
    assert Settings().providers.max_answer_chars == 8 * 1024 * 1024
    assert (
        Settings.model_validate(
            {"providers": {"max_answer_chars": 1000}}
        ).providers.max_answer_chars
        == 1000
    )


@pytest.mark.parametrize("wire", WIRES)
async def test_an_error_status_body_is_read_only_in_part(
    wire: str, loopback: LoopbackServer, make: Any
) -> None:
    body = {"error": {"type": "api_error", "message": "boom " + "x" * 1000}}
    raw = json.dumps(body).encode() + b" " * (64 * 1024 * 1024)  # 64 MB once inflated
    loopback.enqueue(
        Response(
            status=500,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            body=gzip.compress(raw, 9),
        )
    )
    tracemalloc.start()
    try:
        with pytest.raises(ProviderError) as caught:
            await drain(make(wire), [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status == 500 and "boom" in caught.value.one_line()
    assert peak < 16 * 1024 * 1024
