"""The simulated provider's tool script: one read-only call, then an answer quoting its result."""

from __future__ import annotations

from paracle_engine.models import (
    CompletionRequest,
    Message,
    StopReason,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from paracle_engine.providers.simulated import SimulatedProvider

READ_FILE = ToolSpec(
    "read_file",
    "Read a file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
LIST_FILES = ToolSpec("list_files", "List files.")


def request(
    prompt: str, tools: list[ToolSpec], history: list[Message] | None = None
) -> CompletionRequest:
    return CompletionRequest(
        model="sim", messages=[Message("user", prompt), *(history or [])], tools=tools
    )


async def test_a_named_file_is_read_first() -> None:
    provider = SimulatedProvider(pace=0)
    result = await provider.complete(
        request("Summarise docs/guide.md, please", [LIST_FILES, READ_FILE])
    )
    assert result.tool_calls == [
        ToolCall("sim_call_1", "read_file", {"path": "docs/guide.md"}, '{"path": "docs/guide.md"}')
    ]
    assert (result.stop_reason, result.stop) == ("tool_use", StopReason.TOOL_USE)
    assert "docs/guide.md" in result.text
    # The same request gets the same answer.
    assert (
        await provider.complete(request("Summarise docs/guide.md, please", [LIST_FILES, READ_FILE]))
        == result
    )


async def test_no_file_named_lists_the_files() -> None:
    result = await SimulatedProvider(pace=0).complete(
        request("Tidy the project", [READ_FILE, LIST_FILES])
    )
    assert result.tool_calls == [ToolCall("sim_call_1", "list_files", {}, "{}")]
    assert result.stop == StopReason.TOOL_USE


async def test_no_read_only_tool_offered_is_a_text_answer() -> None:
    write = ToolSpec("write_file", "Write a file.")
    result = await SimulatedProvider(pace=0).complete(request("Summarise notes.txt", [write]))
    assert result.tool_calls == []
    assert (result.stop_reason, result.stop) == ("end_turn", StopReason.END_TURN)
    assert result.text.startswith("## Simulated answer")


async def test_round_two_quotes_the_result_and_ends_the_turn() -> None:
    provider = SimulatedProvider(pace=0)
    tools = [READ_FILE, LIST_FILES]
    first = await provider.complete(request("What does README.md say?", tools))
    [call] = first.tool_calls
    history = [
        first.as_message(),
        Message.with_results([ToolResult(call.id, "# Paracle\nAgents that act.")]),
    ]
    second = await provider.complete(request("What does README.md say?", tools, history))
    assert second.tool_calls == []
    assert second.stop == StopReason.END_TURN
    assert "`read_file` returned:\n\n> # Paracle\n> Agents that act." in second.text
    assert "> What does README.md say?" in second.text  # the task, quoted as without tools
    assert second.usage.input_tokens > first.usage.input_tokens


async def test_an_error_result_is_reported_not_quoted() -> None:
    tools = [LIST_FILES]
    call = ToolCall("sim_call_1", "list_files", {}, "{}")
    history = [
        Message("assistant", "", tool_calls=[call]),
        Message.with_results([ToolResult(call.id, "no such\nfolder", is_error=True)]),
    ]
    result = await SimulatedProvider(pace=0).complete(request("Tidy up", tools, history))
    assert "The call to `list_files` failed: no such folder" in result.text
    assert result.stop == StopReason.END_TURN


async def test_without_tools_nothing_changes() -> None:
    plain = CompletionRequest(model="sim", messages=[Message("user", "Read README.md")])
    result = await SimulatedProvider(pace=0).complete(plain)
    assert result.tool_calls == [] and result.stop_reason == "end_turn"
