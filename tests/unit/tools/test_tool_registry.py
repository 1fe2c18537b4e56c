"""The registry: schemas, argument checks, error results, capped results, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from paracle_engine.models import ToolResult
from paracle_engine.tools.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolRegistry,
    cap_text,
)


@dataclass
class Echo:
    name: str = "echo"
    description: str = "Say the text back."
    input_schema: Mapping[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"text": {"type": "string"}, "times": {"type": "integer"}},
            "required": ["text"],
        }
    )

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
        if arguments["text"] == "boom":
            raise ToolError("no booms here")
        if arguments["text"] == "crash":
            raise RuntimeError("broken")
        if arguments["text"] == "wait":
            await asyncio.sleep(60)
        return ToolOutput(arguments["text"] * arguments.get("times", 1))


def test_an_echo_is_a_tool_and_its_schema_is_listed_neutrally():
    registry = ToolRegistry([Echo()])
    assert isinstance(Echo(), Tool)
    [schema] = registry.schemas()
    assert (schema.name, schema.description) == ("echo", "Say the text back.")
    assert schema.input_schema["required"] == ["text"]
    assert ToolOutput("hi", is_error=True).for_call("call_1") == ToolResult("call_1", "hi", True)
    assert registry.names() == ["echo"] and registry.get("echo") is registry.list()[0]
    assert registry.get("nope") is None


def test_a_second_tool_of_the_same_name_is_refused():
    registry = ToolRegistry([Echo()])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Echo())


async def test_bad_arguments_unknown_tools_and_failures_are_error_results(tmp_path: Path):
    registry = ToolRegistry([Echo()])
    ctx = ToolContext(root=tmp_path)
    missing = await registry.call("echo", {}, ctx)
    assert missing.is_error and "missing required argument 'text'" in missing.content
    wrong = await registry.call("echo", {"text": "a", "times": "2"}, ctx)
    assert wrong.is_error and "'times' must be of type integer" in wrong.content
    assert (await registry.call("nope", {}, ctx)).is_error
    told = await registry.call("echo", {"text": "boom"}, ctx)
    assert told == ToolOutput("no booms here", is_error=True)
    broken = await registry.call("echo", {"text": "crash"}, ctx)
    assert broken.is_error and "RuntimeError: broken" in broken.content
    assert await registry.call("echo", {"text": "ab", "times": 2}, ctx) == ToolOutput("abab")


async def test_results_are_capped_and_the_cut_is_said(tmp_path: Path):
    registry = ToolRegistry([Echo()])
    ctx = ToolContext(root=tmp_path, max_result_bytes=100)
    result = await registry.call("echo", {"text": "x", "times": 1000}, ctx)
    assert result.truncated and not result.is_error
    assert result.content.startswith("x" * 100)
    assert "[truncated: showing the first 100 of 1000 bytes]" in result.content


def test_a_cut_never_splits_a_character():
    text, cut = cap_text("é" * 10, 5)
    assert cut and text.startswith("éé") and not text.startswith("ééé")


async def test_cancellation_goes_through_the_registry(tmp_path: Path):
    registry = ToolRegistry([Echo()])
    task = asyncio.create_task(registry.call("echo", {"text": "wait"}, ToolContext(tmp_path)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
