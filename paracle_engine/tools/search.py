"""search_files: a regular expression over the project's text files, as .gitignore allows.

The files come from `ignore.project_files` (git's view in a repository). Each is read with
the one safe read and skipped if it is binary (a NUL byte, or not UTF-8), too big, not a
regular file or, through a symlink, outside the root.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from paracle_engine.errors import WorkspaceError
from paracle_engine.tools.base import FunctionTool, ToolContext, ToolError, ToolOutput
from paracle_engine.tools.ignore import project_files
from paracle_engine.tools.paths import is_within, resolve_in_root
from paracle_engine.workspace.yaml_source import read_text, real_path

MAX_MATCHES = 500
MAX_LINE_CHARS = 300


def _search(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    try:
        regex = re.compile(arguments["pattern"])
    except re.error as exc:
        raise ToolError(f"bad regular expression: {exc}") from None
    shown = arguments.get("path") or "."
    root = resolve_in_root(context.root, ".")
    start = resolve_in_root(context.root, shown)
    names = [shown] if start.is_file() else None
    if names is None:
        names = project_files(root, start)
    matches: list[str] = []
    more = 0
    for name in names:
        path = start if start.is_file() else root / name
        if not is_within(root, real_path(path)):
            continue
        try:
            text = read_text(path, name, limit=context.max_file_bytes)
        except WorkspaceError:
            continue  # binary, too big, not a regular file, gone
        if "\x00" in text:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if regex.search(line):
                if len(matches) >= MAX_MATCHES:
                    more += 1
                    continue
                if len(line) > MAX_LINE_CHARS:
                    line = line[:MAX_LINE_CHARS] + "…"
                matches.append(f"{name}:{number}: {line}")
    if not matches:
        return ToolOutput(f"no matches for {arguments['pattern']!r} in {shown}")
    text = "\n".join(matches)
    if more:
        text += f"\n[{more} more matches not shown; narrow the pattern or path]"
    return ToolOutput(text, truncated=bool(more))


async def search_files(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await asyncio.to_thread(_search, arguments, context)


SEARCH_FILES = FunctionTool(
    "search_files",
    "Search the project's text files for a regular expression (Python syntax); answers "
    "`path:line: text` for each matching line. Files ignored by .gitignore are skipped.",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "path": {"type": "string", "description": "A folder or file, relative to the root."},
        },
        "required": ["pattern"],
        "additionalProperties": False,
    },
    search_files,
)
