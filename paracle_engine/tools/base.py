"""The tool protocol, its result and context, and the registry the agent loop calls through.

A tool is a name, a description, a JSON-schema `input_schema` and an `async call`. It
answers with a `ToolOutput` the model reads; a problem the model can fix (a bad path, text
not found, a command that failed) is a result with `is_error=True`, never an exception out
of `ToolRegistry.call`. Cancellation is the exception: `asyncio.CancelledError` always goes
through, after the tool has cleaned up (a command's process group is killed).

Every result is capped at `ToolContext.max_result_bytes` (64 KB unless configured), and a
cut result says so in its text, so the model knows it did not see everything.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from paracle_engine.errors import one_line
from paracle_engine.models import ToolResult, ToolSpec

DEFAULT_MAX_RESULT_BYTES = 64 * 1024
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
DEFAULT_COMMAND_TIMEOUT = 120.0
DEFAULT_MAX_COMMAND_TIMEOUT = 600.0
DEFAULT_GIT_TIMEOUT = 30.0


class ToolError(Exception):
    """A problem the model is told about as an error result (the message is what it reads)."""


@dataclass(frozen=True)
class ToolOutput:
    """What a tool call gives back to the model: text, whether it failed, whether it was cut.

    `for_call` makes it the `models.ToolResult` a provider sends back for one tool call.
    """

    content: str
    is_error: bool = False
    truncated: bool = False

    def for_call(self, tool_call_id: str) -> ToolResult:
        return ToolResult(tool_call_id=tool_call_id, content=self.content, is_error=self.is_error)

    @classmethod
    def error(cls, message: str) -> ToolOutput:
        return cls(content=message, is_error=True)


@dataclass(frozen=True)
class ToolContext:
    """Where a tool works and how far it may go; one per run, shared by its calls."""

    root: Path
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT
    max_command_timeout: float = DEFAULT_MAX_COMMAND_TIMEOUT
    git_timeout: float = DEFAULT_GIT_TIMEOUT
    # The commands behind run_tests and run_lint (manifest `testing`, `static_analysis`).
    test_command: str | None = None
    lint_command: str | None = None


@runtime_checkable
class Tool(Protocol):
    """One tool the model may call."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def input_schema(self) -> Mapping[str, Any]: ...

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput: ...


Handler = Callable[[Mapping[str, Any], ToolContext], Awaitable[ToolOutput]]


@dataclass(frozen=True)
class FunctionTool:
    """A tool made of its description and one async function (how the built-ins are made)."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    handler: Handler

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
        return await self.handler(arguments, context)


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` UTF-8 bytes, with a visible note if cut; and whether it was."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    kept = data[:limit].decode("utf-8", errors="ignore")
    note = f"\n[truncated: showing the first {limit} of {len(data)} bytes]"
    return kept + note, True


def cap_result(result: ToolOutput, limit: int) -> ToolOutput:
    """`result` with its content capped at `limit` bytes (see `cap_text`)."""
    content, cut = cap_text(result.content, limit)
    if not cut:
        return result
    return ToolOutput(content=content, is_error=result.is_error, truncated=True)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def check_arguments(schema: Mapping[str, Any], arguments: Any) -> str | None:
    """Why `arguments` do not fit `schema` (required keys, top-level types), or None if they do."""
    if not isinstance(arguments, Mapping):
        return "arguments must be a JSON object"
    for key in schema.get("required", ()):
        if key not in arguments:
            return f"missing required argument {key!r}"
    properties = schema.get("properties", {})
    for key, value in arguments.items():
        spec = properties.get(key)
        if spec is None:
            if schema.get("additionalProperties", True) is False:
                return f"unknown argument {key!r}"
            continue
        kinds = _JSON_TYPES.get(spec.get("type", ""))
        if kinds is None:
            continue
        wrong = not isinstance(value, kinds) or (
            isinstance(value, bool) and spec.get("type") != "boolean"
        )
        if wrong:
            return f"argument {key!r} must be of type {spec['type']}"
    return None


class ToolRegistry:
    """The tools a run may call, by name."""

    def __init__(self, tools: Any = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add `tool`; a second tool of the same name is a ValueError."""
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> builtins.list[str]:
        return builtins.list(self._tools)

    def list(self) -> builtins.list[Tool]:
        """The registered tools, in the order they were registered."""
        return builtins.list(self._tools.values())

    def only(self, names: Any) -> ToolRegistry:
        """A registry of just the named tools that are here (unknown names are left out)."""
        return ToolRegistry(self._tools[n] for n in dict.fromkeys(names) if n in self._tools)

    def schemas(self) -> builtins.list[ToolSpec]:
        """The tools as a provider request lists them (`models.ToolSpec`, no wire format)."""
        return [ToolSpec(t.name, t.description, dict(t.input_schema)) for t in self._tools.values()]

    async def call(
        self, name: str, arguments: Mapping[str, Any], context: ToolContext
    ) -> ToolOutput:
        """Call tool `name`; every failure but cancellation comes back as an error result.

        Arguments are checked against the tool's schema first (required keys, top-level
        types); the result is capped at `context.max_result_bytes`.
        """
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutput.error(f"unknown tool {name!r}")
        problem = check_arguments(tool.input_schema, arguments)
        if problem is not None:
            return ToolOutput.error(f"{name}: {problem}")
        try:
            result = await tool.call(arguments, context)
        except ToolError as exc:
            result = ToolOutput.error(str(exc))
        except Exception as exc:  # a broken tool must not end the run
            result = ToolOutput.error(f"{name} failed: {one_line(exc)}")
        return cap_result(result, context.max_result_bytes)
