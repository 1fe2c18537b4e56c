"""The file tools: read_file, list_files, write_file, edit_file.

Every path goes through `resolve_in_root` first and only the resolved path is opened.
Reads use the workspace's one safe read (`workspace.yaml_source.read_text`): a regular file
only, at most `ToolContext.max_file_bytes`, opened non-blocking. Blocking file work runs in
`asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paracle_engine.errors import WorkspaceError
from paracle_engine.tools.base import FunctionTool, ToolContext, ToolError, ToolOutput
from paracle_engine.tools.ignore import project_files
from paracle_engine.tools.paths import relative_to_root, resolve_in_root
from paracle_engine.workspace.yaml_source import read_text

DEFAULT_READ_LINES = 2000
MAX_LISTED = 1000


def read_project_text(context: ToolContext, path: Path, shown: str) -> str:
    """The text of a resolved project file, read safely; a ToolError the model reads if not."""
    try:
        return read_text(path, shown, limit=context.max_file_bytes)
    except WorkspaceError as exc:
        raise ToolError(exc.one_line()) from None


def _read(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    shown = arguments["path"]
    path = resolve_in_root(context.root, shown)
    offset = arguments.get("offset", 1)
    limit = arguments.get("limit", DEFAULT_READ_LINES)
    if offset < 1 or limit < 1:
        raise ToolError("offset and limit must be at least 1")
    lines = read_project_text(context, path, shown).splitlines(keepends=True)
    part = lines[offset - 1 : offset - 1 + limit]
    text = "".join(part)
    last = offset - 1 + len(part)
    if offset > 1 or last < len(lines):
        if not part:
            text = f"[{shown} has {len(lines)} lines; none from line {offset}]"
        else:
            sep = "" if text.endswith("\n") else "\n"
            text += f"{sep}[lines {offset}-{last} of {len(lines)}; pass offset to read on]"
    return ToolOutput(text)


async def read_file(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await asyncio.to_thread(_read, arguments, context)


def _list(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    shown = arguments.get("path") or "."
    start = resolve_in_root(context.root, shown)
    root = resolve_in_root(context.root, ".")
    if not start.is_dir():
        raise ToolError(f"not a directory: {shown}")
    pattern = arguments.get("pattern")
    if pattern:
        names = [
            n
            for n in project_files(root, start)
            if fnmatch.fnmatchcase(n, pattern) or fnmatch.fnmatchcase(n.rsplit("/", 1)[-1], pattern)
        ]
    else:
        names = []
        for entry in sorted(os.scandir(start), key=lambda e: e.name):
            rel = relative_to_root(root, Path(entry.path))
            names.append(rel + "/" if entry.is_dir(follow_symlinks=False) else rel)
    if not names:
        return ToolOutput(
            f"no files match {pattern!r} in {shown}" if pattern else f"{shown} is empty"
        )
    text = "\n".join(names[:MAX_LISTED])
    if len(names) > MAX_LISTED:
        text += f"\n[{len(names) - MAX_LISTED} more not listed; narrow the path or pattern]"
    return ToolOutput(text, truncated=len(names) > MAX_LISTED)


async def list_files(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await asyncio.to_thread(_list, arguments, context)


def _write_atomically(path: Path, content: str) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ToolError(f"not a regular file: {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
        if info is not None:
            os.chmod(temp, stat.S_IMODE(info.st_mode))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _write(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    shown = arguments["path"]
    path = resolve_in_root(context.root, shown)
    content = arguments["content"]
    existed = path.exists()
    try:
        _write_atomically(path, content)
    except OSError as exc:
        raise ToolError(f"cannot write {shown}: {exc.strerror or exc}") from None
    size = len(content.encode("utf-8"))
    return ToolOutput(f"{'wrote' if existed else 'created'} {shown} ({size} bytes)")


async def write_file(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await asyncio.to_thread(_write, arguments, context)


def _edit(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    shown = arguments["path"]
    old, new = arguments["old"], arguments["new"]
    if not old:
        raise ToolError("old must not be empty")
    path = resolve_in_root(context.root, shown)
    text = read_project_text(context, path, shown)
    count = text.count(old)
    if count == 0:
        raise ToolError(f"old text not found in {shown}")
    if count > 1:
        raise ToolError(
            f"old text found {count} times in {shown}; include more context to make it unique"
        )
    try:
        _write_atomically(path, text.replace(old, new, 1))
    except OSError as exc:
        raise ToolError(f"cannot write {shown}: {exc.strerror or exc}") from None
    line = text[: text.index(old)].count("\n") + 1
    return ToolOutput(f"edited {shown} at line {line}")


async def edit_file(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
    return await asyncio.to_thread(_edit, arguments, context)


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


_PATH = {"type": "string", "description": "A path relative to the project root."}

READ_FILE = FunctionTool(
    "read_file",
    "Read a text file of the project. Lines from `offset` (1-based), at most `limit` lines.",
    _schema(
        {
            "path": _PATH,
            "offset": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1},
        },
        ["path"],
    ),
    read_file,
)
LIST_FILES = FunctionTool(
    "list_files",
    "List a folder of the project; with `pattern` (a glob such as `*.py` or `src/*.py`), "
    "list the matching files below it, leaving out what .gitignore ignores.",
    _schema({"path": _PATH, "pattern": {"type": "string"}}, []),
    list_files,
)
WRITE_FILE = FunctionTool(
    "write_file",
    "Write `content` to a file of the project, creating it (and its folders) or replacing it.",
    _schema({"path": _PATH, "content": {"type": "string"}}, ["path", "content"]),
    write_file,
)
EDIT_FILE = FunctionTool(
    "edit_file",
    "Replace the exact text `old` with `new` in a file. `old` must occur exactly once.",
    _schema(
        {"path": _PATH, "old": {"type": "string"}, "new": {"type": "string"}},
        ["path", "old", "new"],
    ),
    edit_file,
)
FILE_TOOLS = (READ_FILE, LIST_FILES, WRITE_FILE, EDIT_FILE)
