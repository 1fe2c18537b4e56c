"""Anthropic tool use against a loopback server: tool_use blocks in, tool_result blocks out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

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
from paracle_engine.providers.anthropic import AnthropicProvider

KEY = "sk-ant-test-0123456789-SECRET"
READ_FILE = ToolSpec(
    "read_file",
    "Read a file of the workspace.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
LIST_FILES = ToolSpec("list_files", "List the workspace's files.")


def request(messages: list[Message] | None = None) -> CompletionRequest:
    return CompletionRequest(
        model="claude-sonnet-4.5",
        messages=messages or [Message("user", "What does README.md say?")],
        tools=[READ_FILE, LIST_FILES],
    )


@pytest.fixture
async def provider(loopback: LoopbackServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider(KEY, loopback.url)
    yield p
    await p.aclose()


async def drain(provider: AnthropicProvider, req: CompletionRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(req)]


def event(obj: dict[str, object]) -> bytes:
    return sse_event(obj, event=str(obj["type"]))


def block_start(index: int, block: dict[str, object]) -> bytes:
    return event({"type": "content_block_start", "index": index, "content_block": block})


def json_piece(index: int, piece: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": piece}
    return event({"type": "content_block_delta", "index": index, "delta": delta})


def text_piece(index: int, text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return event({"type": "content_block_delta", "index": index, "delta": delta})


def block_stop(index: int) -> bytes:
    return event({"type": "content_block_stop", "index": index})


def message_start() -> bytes:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }
    return event({"type": "message_start", "message": message})


def message_end(stop: str = "tool_use") -> list[bytes]:
    return [
        event(
            {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 7}}
        ),
        event({"type": "message_stop"}),
    ]


async def test_recorded_tool_use_with_text(
    loopback: LoopbackServer, provider: AnthropicProvider, fixtures_dir: Path
) -> None:
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-tool-use.sse"))
    chunks = await drain(provider, request())
    assert [c.text for c in chunks if c.text] == ["Let me read that file."]
    assert [c.tool_call for c in chunks if c.tool_call] == [
        ToolCall(
            "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "read_file",
            {"path": "README.md"},
            '{"path": "README.md"}',
        )
    ]
    # The text comes before the call, in the order the blocks came.
    assert [bool(c.text) for c in chunks[:2]] == [True, False]
    assert (chunks[-1].usage, chunks[-1].stop_reason) == (Usage(472, 89), "tool_use")


async def test_recorded_tool_use_with_no_arguments(
    loopback: LoopbackServer, provider: AnthropicProvider, fixtures_dir: Path
) -> None:
    fixture = fixtures_dir / "recorded" / "llm-anthropic_tool_use_stream.sse"
    loopback.enqueue(Response.from_fixture(fixture))
    result = await provider.complete(request())
    assert result.text == ""
    assert result.tool_calls == [
        ToolCall("toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator", {}, "")
    ]
    assert (result.stop_reason, result.stop) == ("tool_use", StopReason.TOOL_USE)
    assert result.usage == Usage(543, 40)


async def test_two_interleaved_calls_one_with_broken_arguments(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(
        Response.sse(
            [
                message_start(),
                block_start(0, {"type": "text", "text": ""}),
                text_piece(0, "Two looks."),
                block_stop(0),
                block_start(1, {"type": "tool_use", "id": "toolu_A", "name": "list_files"}),
                json_piece(1, ""),
                block_start(2, {"type": "tool_use", "id": "toolu_B", "name": "read_file"}),
                json_piece(2, '{"path": "a.'),
                json_piece(1, '{"dir'),
                json_piece(2, 'txt", '),  # cut off: never a JSON object
                json_piece(1, 'ectory": "src"}'),
                block_stop(2),
                block_stop(1),
                *message_end(),
            ]
        )
    )
    chunks = await drain(provider, request())
    calls = [c.tool_call for c in chunks if c.tool_call]
    # Each call is yielded when its block ends: B ended first.
    assert [c.id for c in calls] == ["toolu_B", "toolu_A"]
    broken, listing = calls
    assert (broken.name, broken.arguments, broken.raw_arguments) == (
        "read_file",
        None,
        '{"path": "a.txt", ',
    )
    assert broken.error is not None and "not valid JSON" in broken.error
    assert (listing.arguments, listing.error) == ({"directory": "src"}, None)
    assert [c.text for c in chunks if c.text] == ["Two looks."]
    assert chunks[-1].stop_reason == "tool_use"


async def test_arguments_that_are_json_but_not_an_object_are_an_error(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    loopback.enqueue(
        Response.sse(
            [
                message_start(),
                block_start(0, {"type": "tool_use", "id": "toolu_C", "name": "read_file"}),
                json_piece(0, '["a.txt"]'),
                block_stop(0),
                *message_end(),
            ]
        )
    )
    [call] = (await provider.complete(request())).tool_calls
    assert call.arguments is None
    assert call.error == "the arguments are a JSON list, not an object"


async def test_round_two_sends_tool_use_and_tool_result_blocks(
    loopback: LoopbackServer, provider: AnthropicProvider, fixtures_dir: Path
) -> None:
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-tool-use.sse"))
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse"))
    first_request = request()
    first = await provider.complete(first_request)
    [call] = first.tool_calls
    broken = ToolCall("toolu_X", "read_file", None, "{oops", "the arguments are not valid JSON")
    assistant = first.as_message()
    assistant.tool_calls.append(broken)
    history = [
        *first_request.messages,
        assistant,
        Message.with_results(
            [
                ToolResult(call.id, "# Paracle\nA terminal app."),
                ToolResult(broken.id, "the arguments are not valid JSON", is_error=True),
            ]
        ),
    ]
    second = await provider.complete(request(history))
    assert second.text == "Hello, world! **Streaming** works."
    assert second.stop == StopReason.END_TURN and second.tool_calls == []

    sent = [r.json for r in loopback.requests]
    assert sent[0]["tools"] == [
        {
            "name": "read_file",
            "description": "Read a file of the workspace.",
            "input_schema": READ_FILE.input_schema,
        },
        {
            "name": "list_files",
            "description": "List the workspace's files.",
            "input_schema": {"type": "object", "properties": {}},
        },
    ]
    assert sent[0]["messages"] == [{"role": "user", "content": "What does README.md say?"}]
    assert sent[1]["tools"] == sent[0]["tools"]
    assert sent[1]["messages"] == [
        {"role": "user", "content": "What does README.md say?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me read that file."},
                {
                    "type": "tool_use",
                    "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "name": "read_file",
                    "input": {"path": "README.md"},
                },
                {"type": "tool_use", "id": "toolu_X", "name": "read_file", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "content": "# Paracle\nA terminal app.",
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_X",
                    "content": "the arguments are not valid JSON",
                    "is_error": True,
                },
            ],
        },
    ]


async def test_a_whole_message_with_a_tool_use_block(
    loopback: LoopbackServer, provider: AnthropicProvider
) -> None:
    message = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_J", "name": "read_file", "input": {"path": "x"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    loopback.enqueue(Response.json(message))
    result = await provider.complete(request())
    assert result.text == "Looking."
    assert result.tool_calls == [ToolCall("toolu_J", "read_file", {"path": "x"}, '{"path": "x"}')]
    assert result.stop == StopReason.TOOL_USE


async def test_tool_arguments_count_against_the_answer_cap(loopback: LoopbackServer) -> None:
    provider = AnthropicProvider(KEY, loopback.url, max_answer_chars=50)
    loopback.enqueue(
        Response.sse(
            [
                message_start(),
                block_start(0, {"type": "tool_use", "id": "toolu_L", "name": "read_file"}),
                json_piece(0, '{"path": "' + "a" * 80 + '"}'),
                block_stop(0),
                *message_end(),
            ]
        )
    )
    try:
        with pytest.raises(Exception, match="passed 50 characters") as caught:
            await drain(provider, request())
        assert getattr(caught.value, "error_type", None) == "too_large"
    finally:
        await provider.aclose()
