"""Manifest tool names and the built-ins they mean.

An agent's manifest lists `tools:` in Paracle's vocabulary (`git_operations`,
`testing`, `static_analysis`, ...). `MANIFEST_NAMES` maps each to the built-ins that
provide it; a built-in's own name means itself, and an `mcp__...` name is left for MCP.
`unavailable` says which names cannot be provided, so a run can say so before it starts.
"""

from __future__ import annotations

from collections.abc import Iterable

from paracle_engine.tools.base import ToolContext

_READ = ("read_file", "list_files", "search_files")
_WRITE = ("write_file", "edit_file")
_GIT = ("git_status", "git_diff", "git_log", "git_add", "git_commit")

MANIFEST_NAMES: dict[str, tuple[str, ...]] = {
    "file_system": (*_READ, *_WRITE),
    "filesystem": (*_READ, *_WRITE),
    "file_operations": (*_READ, *_WRITE),
    "file_read": _READ,
    "code_search": ("search_files",),
    "search": ("search_files",),
    "code_editing": (*_READ, *_WRITE),
    "shell": ("run_command",),
    "command_execution": ("run_command",),
    "terminal": ("run_command",),
    "git": _GIT,
    "git_operations": _GIT,
    "version_control": _GIT,
    "git_read": ("git_status", "git_diff", "git_log"),
    "testing": ("run_tests",),
    "test_execution": ("run_tests",),
    "static_analysis": ("run_lint",),
    "linting": ("run_lint",),
}

BUILTIN_NAMES = frozenset((*_READ, *_WRITE, *_GIT, "run_command", "run_tests", "run_lint"))

# Built-ins that need a command configured before they can be offered.
_NEEDS = {"run_tests": "test_command", "run_lint": "lint_command"}


def _provided(name: str, context: ToolContext | None) -> bool:
    need = _NEEDS.get(name)
    return need is None or context is None or bool(getattr(context, need))


def tools_for(names: Iterable[str], context: ToolContext | None = None) -> list[str]:
    """The built-in tool names the manifest `names` ask for, in order, each once.

    With a `context`, run_tests and run_lint are left out unless their command is set.
    MCP names (`mcp__...`) and unknown names give nothing here.
    """
    found: list[str] = []
    for name in names:
        for tool in MANIFEST_NAMES.get(name, (name,) if name in BUILTIN_NAMES else ()):
            if tool not in found and _provided(tool, context):
                found.append(tool)
    return found


def unavailable(names: Iterable[str], context: ToolContext | None = None) -> list[str]:
    """The manifest `names` no built-in can provide (unknown, or a command not configured).

    `mcp__...` names are not judged here: whether an MCP server offers them is known only
    once it is connected.
    """
    missing: list[str] = []
    for name in names:
        if name.startswith("mcp__") or name in missing:
            continue
        tools = MANIFEST_NAMES.get(name, (name,) if name in BUILTIN_NAMES else ())
        if not tools or not any(_provided(t, context) for t in tools):
            missing.append(name)
    return missing
