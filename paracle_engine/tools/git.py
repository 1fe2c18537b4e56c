"""The git tools: git_status, git_diff, git_log, git_add, git_commit, in the project root.

git runs as a child process (`process.run_process`: own process group, output capped)
under `ToolContext.git_timeout`, never prompting (`GIT_TERMINAL_PROMPT=0`) and without a
pager or colour. Paths given to git_diff, git_log and git_add are confined to the root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from paracle_engine.tools.base import FunctionTool, ToolContext, ToolError, ToolOutput
from paracle_engine.tools.commands import describe
from paracle_engine.tools.paths import relative_to_root, resolve_in_root
from paracle_engine.tools.process import run_process

_GIT = ("git", "--no-pager", "-c", "color.ui=false", "-c", "core.quotepath=off")


async def run_git(context: ToolContext, *args: str) -> ToolOutput:
    """`git args...` in the project root, answered as run_command answers."""
    root = resolve_in_root(context.root, ".")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "LC_ALL": "C"}
    try:
        outcome = await run_process(
            [*_GIT, *args],
            cwd=root,
            time_limit=context.git_timeout,
            max_output_bytes=context.max_result_bytes,
            env=env,
        )
    except OSError as exc:
        raise ToolError(f"cannot run git: {exc}") from None
    return describe(outcome, context.git_timeout)


def _paths(context: ToolContext, paths: list[Any]) -> list[str]:
    if not all(isinstance(p, str) and p for p in paths):
        raise ToolError("paths must be non-empty strings")
    return [relative_to_root(context.root, resolve_in_root(context.root, p)) for p in paths]


async def git_status(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await run_git(context, "status", "--short", "--branch")


async def git_diff(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    args = ["diff"]
    if arguments.get("staged"):
        args.append("--cached")
    path = arguments.get("path")
    return await run_git(context, *args, "--", *(_paths(context, [path]) if path else []))


async def git_log(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    limit = arguments.get("limit", 20)
    if limit < 1:
        raise ToolError("limit must be at least 1")
    path = arguments.get("path")
    return await run_git(
        context,
        "log",
        f"--max-count={min(limit, 500)}",
        "--format=%h %ad %an: %s",
        "--date=short",
        "--",
        *(_paths(context, [path]) if path else []),
    )


async def git_add(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    paths = _paths(context, list(arguments["paths"]))
    if not paths:
        raise ToolError("give at least one path to add")
    result = await run_git(context, "add", "--", *paths)
    if result.is_error:
        return result
    return ToolOutput(f"added {', '.join(paths)}")


async def git_commit(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    message = arguments["message"]
    if not message.strip():
        raise ToolError("the commit message must not be empty")
    return await run_git(context, "commit", "-m", message)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


GIT_STATUS = FunctionTool(
    "git_status",
    "Show the work tree's status (short form, with the branch).",
    _schema({}, []),
    git_status,
)
GIT_DIFF = FunctionTool(
    "git_diff",
    "Show changes not yet staged, or the staged ones with `staged`; optionally for one path.",
    _schema({"staged": {"type": "boolean"}, "path": {"type": "string"}}, []),
    git_diff,
)
GIT_LOG = FunctionTool(
    "git_log",
    "Show recent commits (hash, date, author, subject); `limit` of them, default 20.",
    _schema({"limit": {"type": "integer", "minimum": 1}, "path": {"type": "string"}}, []),
    git_log,
)
GIT_ADD = FunctionTool(
    "git_add",
    "Stage the given paths for the next commit.",
    _schema({"paths": {"type": "array", "items": {"type": "string"}}}, ["paths"]),
    git_add,
)
GIT_COMMIT = FunctionTool(
    "git_commit",
    "Commit what is staged, with `message`.",
    _schema({"message": {"type": "string"}}, ["message"]),
    git_commit,
)
GIT_TOOLS = (GIT_STATUS, GIT_DIFF, GIT_LOG, GIT_ADD, GIT_COMMIT)
