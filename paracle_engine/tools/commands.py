"""run_command, and run_tests / run_lint (the project's configured test and lint commands).

A command runs through the shell in the project root, in its own process group, under a
timeout (`ToolContext.command_timeout`, at most `max_command_timeout`). Timeout or
cancellation stops the whole group. The answer is the output (capped, a cut said) and the
exit code; a non-zero exit is an error result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from paracle_engine.tools.base import FunctionTool, ToolContext, ToolError, ToolOutput
from paracle_engine.tools.paths import resolve_in_root
from paracle_engine.tools.process import ProcessOutcome, run_process


def describe(outcome: ProcessOutcome, timeout: float) -> ToolOutput:
    """A finished process as the model reads it: output, any cut, then how it ended."""
    text = outcome.output
    notes = []
    if outcome.truncated:
        notes.append(
            f"[output truncated: showing the first {outcome.kept_bytes} "
            f"of {outcome.total_bytes} bytes]"
        )
    if outcome.timed_out:
        notes.append(f"[timed out after {timeout:g}s; the command and its children were stopped]")
    else:
        if outcome.stopped_leftovers:
            notes.append("[background processes still holding the output were stopped]")
        notes.append(f"[exit code {outcome.exit_code}]")
    if text and not text.endswith("\n"):
        text += "\n"
    return ToolOutput(
        text + "\n".join(notes),
        is_error=outcome.timed_out or outcome.exit_code != 0,
        truncated=outcome.truncated,
    )


async def run_shell(command: str, time_limit: float | None, context: ToolContext) -> ToolOutput:
    """Run `command` in the project root as run_command does."""
    if not command.strip():
        raise ToolError("command must not be empty")
    limit = context.command_timeout if time_limit is None else float(time_limit)
    if not math.isfinite(limit) or limit <= 0:
        raise ToolError("timeout must be a positive number of seconds")
    limit = min(limit, context.max_command_timeout)
    root = resolve_in_root(context.root, ".")
    outcome = await run_process(
        command, cwd=root, time_limit=limit, max_output_bytes=context.max_result_bytes
    )
    return describe(outcome, limit)


async def run_command(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await run_shell(arguments["command"], arguments.get("timeout"), context)


async def run_tests(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    if not context.test_command:
        raise ToolError("no test command is configured for this project")
    return await run_shell(context.test_command, None, context)


async def run_lint(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    if not context.lint_command:
        raise ToolError("no lint command is configured for this project")
    return await run_shell(context.lint_command, None, context)


RUN_COMMAND = FunctionTool(
    "run_command",
    "Run a shell command in the project root. Answers its output (stdout and stderr "
    "together) and exit code. `timeout` in seconds.",
    {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
        "additionalProperties": False,
    },
    run_command,
)
_NO_ARGUMENTS = {"type": "object", "properties": {}, "additionalProperties": False}
RUN_TESTS = FunctionTool(
    "run_tests",
    "Run the project's test command; answers its output and exit code.",
    _NO_ARGUMENTS,
    run_tests,
)
RUN_LINT = FunctionTool(
    "run_lint",
    "Run the project's lint command; answers its output and exit code.",
    _NO_ARGUMENTS,
    run_lint,
)
COMMAND_TOOLS = (RUN_COMMAND, RUN_TESTS, RUN_LINT)
