"""OpenAI-compatible tool calls against a loopback server: tool_calls deltas in, role tool out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.loopback import LoopbackServer, Response, sse_event

from paracle_engine.models import (
    CompletionRequest,
    Message,
    StopReason,
    StreamChunk,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from paracle_engine.providers.openai_compat import OpenAICompatProvider

READ_FILE = ToolSpec(
    "read_file",
    "Read a file of the workspace.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def request(messages: list[Message] | None = None) -> CompletionRequest:
    return CompletionRequest(
        model="llama3.2",
        messages=messages or [Message("user", "What is in a.txt and b.txt?")],
        system="Be brief.",
        tools=[READ_FILE],
    )


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[OpenAICompatProvider]:
    p = OpenAICompatProvider("ollama", f"{loopback.url}/v1", "ollama-key")
    yield p
    await p.aclose()


async def drain(provider: OpenAICompatProvider, req: CompletionRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(req)]


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    return sse_event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})


def call_piece(index: int, arguments: str, *, id: str = "", name: str = "") -> dict[str, Any]:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id:
        piece["id"] = id
        piece["type"] = "function"
    if name:
        piece["function"]["name"] = name
    return piece


def two_calls_one_broken() -> Response:
    return Response.sse(
        [
            chunk({"role": "assistant", "content": "Reading both."}),
            chunk({"tool_calls": [call_piece(0, "", id="call_a", name="read_file")]}),
            chunk({"tool_calls": [call_piece(0, '{"path"')]}),
            chunk({"tool_calls": [call_piece(1, '{"path": ', id="call_b", name="read_file")]}),
            chunk({"tool_calls": [call_piece(0, ': "a.txt"}')]}),
            chunk({"tool_calls": [call_piece(1, "b.txt}")]}),  # the quotes never come
            chunk({}, "tool_calls"),
            sse_event({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 12}}),
            b"data: [DONE]\n\n",
        ]
    )


async def test_recorded_tool_calls_stream(
    loopback: LoopbackServer, provider: OpenAICompatProvider, fixtures_dir: Path
) -> None:
    # This server repeats the id and the name in every piece and sends no finish_reason.
    fixture = fixtures_dir / "recorded" / "llm_openai_tool_calls_stream.sse"
    loopback.enqueue(Response.from_fixture(fixture))
    chunks = await drain(provider, request())
    assert [c.tool_call for c in chunks if c.tool_call] == [ToolCall("0", "llm_version", {}, "{}")]
    assert [c.text for c in chunks if c.text] == []
    assert (chunks[-1].usage, chunks[-1].stop_reason) == (Usage(57, 17), None)

    loopback.enqueue(Response.from_fixture(fixture))
    result = await provider.complete(request())
    assert (result.stop_reason, result.stop) == (None, StopReason.TOOL_USE)


async def test_two_calls_in_pieces_one_with_broken_arguments(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(two_calls_one_broken())
    chunks = await drain(provider, request())
    calls = [c.tool_call for c in chunks if c.tool_call]
    assert [c.text for c in chunks if c.text] == ["Reading both."]
    good, broken = calls
    assert good == ToolCall("call_a", "read_file", {"path": "a.txt"}, '{"path": "a.txt"}')
    assert (broken.id, broken.name, broken.arguments, broken.raw_arguments) == (
        "call_b",
        "read_file",
        None,
        '{"path": b.txt}',
    )
    assert broken.error is not None and "not valid JSON" in broken.error
    assert (chunks[-1].usage, chunks[-1].stop_reason) == (Usage(30, 12), "tool_calls")


async def test_round_two_sends_tool_calls_and_tool_messages(
    loopback: LoopbackServer, provider: OpenAICompatProvider, fixtures_dir: Path
) -> None:
    loopback.enqueue(two_calls_one_broken())
    loopback.enqueue(Response.from_fixture(fixtures_dir / "openai" / "stream-text.sse"))
    first_request = request()
    first = await provider.complete(first_request)
    assert first.stop == StopReason.TOOL_USE
    good, broken = first.tool_calls
    history = [
        *first_request.messages,
        first.as_message(),
        Message.with_results(
            [
                ToolResult(good.id, "alpha"),
                ToolResult(broken.id, "the arguments are not valid JSON", is_error=True),
            ]
        ),
    ]
    second = await provider.complete(request(history))
    assert (second.text, second.stop, second.tool_calls) == (
        "Hello, world!",
        StopReason.END_TURN,
        [],
    )

    sent = [r.json for r in loopback.requests]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file of the workspace.",
                "parameters": READ_FILE.input_schema,
            },
        }
    ]
    assert sent[0]["tools"] == tools and sent[1]["tools"] == tools
    assert sent[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is in a.txt and b.txt?"},
    ]
    assert sent[1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is in a.txt and b.txt?"},
        {
            "role": "assistant",
            "content": "Reading both.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": "{}"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "alpha"},
        {
            "role": "tool",
            "tool_call_id": "call_b",
            "content": "Error: the arguments are not valid JSON",
        },
    ]


async def test_a_json_completion_with_tool_calls(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_w",
                            "type": "function",
                            "function": {"name": "read_file", "arguments": '{"path": "w"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    loopback.enqueue(Response.json(completion))
    result = await provider.complete(request())
    assert result.tool_calls == [ToolCall("call_w", "read_file", {"path": "w"}, '{"path": "w"}')]
    assert (result.text, result.stop) == ("", StopReason.TOOL_USE)


async def test_a_call_without_an_id_gets_one(
    loopback: LoopbackServer, provider: OpenAICompatProvider
) -> None:
    loopback.enqueue(
        Response.sse(
            [
                chunk({"tool_calls": [{"function": {"name": "read_file", "arguments": "{}"}}]}),
                chunk({}, "stop"),  # some servers say stop after calling a tool
                b"data: [DONE]\n\n",
            ]
        )
    )
    result = await provider.complete(request())
    assert result.tool_calls == [ToolCall("call_0", "read_file", {}, "{}")]
    assert (result.stop_reason, result.stop) == ("stop", StopReason.TOOL_USE)


async def test_tool_arguments_count_against_the_answer_cap(loopback: LoopbackServer) -> None:
    provider = OpenAICompatProvider("ollama", f"{loopback.url}/v1", max_answer_chars=40)
    loopback.enqueue(
        Response.sse(
            [
                chunk({"tool_calls": [call_piece(0, '{"path": "', id="c", name="read_file")]}),
                chunk({"tool_calls": [call_piece(0, "a" * 60)]}),
                chunk({"tool_calls": [call_piece(0, '"}')]}),
                chunk({}, "tool_calls"),
                b"data: [DONE]\n\n",
            ]
        )
    )
    try:
        with pytest.raises(Exception, match="passed 40 characters") as caught:
            await drain(provider, request())
        assert getattr(caught.value, "error_type", None) == "too_large"
    finally:
        await provider.aclose()
