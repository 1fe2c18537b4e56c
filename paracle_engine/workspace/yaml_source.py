"""Reading workspace files: the one safe read, and YAML with the nodes that carry line numbers.

A cloned repository's `.parac/` comes from outside. Every workspace file is read through
:func:`read_text`, which reads only a regular file (after following symlinks) of at most
`limit` bytes, and never blocks: a FIFO, device, socket, directory, symlink loop or oversize
file raises :class:`SkippedFile`, whose one line names the file and why.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml import YAMLError
from yaml.nodes import MappingNode, Node, SequenceNode

from paracle_engine.errors import WorkspaceError

# The largest workspace file read, unless `[workspace] max_file_bytes` in config.toml says otherwise.
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
_LIMIT_HINT = "raise `max_file_bytes` under [workspace] in config.toml to read it"

# The C parser is several times faster; fall back to pure Python where libyaml is absent.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def display_path(path: Path) -> str:
    """A path as a person reads it in an error: relative to the cwd when under it."""
    if not path.is_absolute():
        return str(path)
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except (OSError, ValueError):
        return str(path)


class SkippedFile(WorkspaceError):
    """A workspace file left unread: not a regular file, a symlink loop, or over the size limit."""


def real_path(path: Path) -> Path:
    """`path` made absolute with symlinks followed as far as they go; never fails on a loop."""
    return Path(os.path.realpath(path.expanduser()))


def exists(path: Path) -> bool:
    """Whether anything, even a FIFO or a broken symlink, is at `path` (read it to know more)."""
    return os.path.lexists(path)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse(mode: int, label: str) -> SkippedFile:
    kind = _kind(mode)
    why = kind if kind == "not a regular file" else f"{kind}, not a regular file"
    return SkippedFile(f"skipped: {why}", file=label)


def _too_big(size: str, limit: int, label: str) -> SkippedFile:
    return SkippedFile(
        f"skipped: {size}, over the limit of {limit} bytes", file=label, hint=_LIMIT_HINT
    )


def read_text(path: Path, label: str | None = None, *, limit: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """The text of a workspace file, read safely; every workspace file is read through here.

    Only a regular file (after following symlinks) of at most `limit` bytes is read. Anything
    else raises SkippedFile, without blocking or reading past `limit + 1` bytes: the file is
    checked with stat before it is opened, opened non-blocking, checked again on the open
    descriptor (it may have been swapped in between), and read in bounded chunks. A missing
    file, a failed read or text that is not UTF-8 is a WorkspaceError naming the file.
    """
    label = label if label is not None else display_path(path)
    try:
        info = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        raise WorkspaceError("file not found", file=label) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkippedFile("skipped: a symlink loop", file=label) from None
        raise WorkspaceError(f"cannot read: {exc.strerror or exc}", file=label) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(info.st_mode, label)
    if info.st_size > limit:
        raise _too_big(f"{info.st_size} bytes", limit, label)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkippedFile("skipped: a symlink loop", file=label) from None
        raise WorkspaceError(f"cannot read: {exc.strerror or exc}", file=label) from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _refuse(opened.st_mode, label)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise WorkspaceError(f"cannot read: {exc.strerror or exc}", file=label) from None
    finally:
        os.close(fd)
    if total > limit:  # it grew after the stat
        raise _too_big("more than that", limit, label)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkspaceError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=label,
            hint="save it as UTF-8",
        ) from None


def load_yaml(text: str, label: str, warnings: list[str] | None = None) -> tuple[Any, Node | None]:
    """Parse one YAML document into (data, root node); bad YAML is a WorkspaceError at file:line:col.

    A key written twice in one mapping is a warning at file:line, added to `warnings`.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problem = alias_problem(node, len(text))
        if problem is not None:
            message, at, hint = problem
            raise WorkspaceError(message, file=label, line=at.start_mark.line + 1, hint=hint)
        if warnings is not None:
            warnings.extend(duplicate_keys(node, label))
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        cause = exc.problem or "invalid YAML"
        if exc.context:
            cause = f"{cause} ({exc.context})"
        raise WorkspaceError(
            f"bad YAML: {cause}",
            file=label,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="check the indentation and quoting on that line",
        ) from None
    except yaml.YAMLError as exc:
        raise WorkspaceError(f"bad YAML: {exc}", file=label) from None
    finally:
        loader.dispose()
    return data, node


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def alias_problem(node: Node | None, text_size: int) -> tuple[str, Node, str] | None:
    """Why the document's aliases cannot be accepted, the node at fault and a hint, or None.

    An alias makes a value appear again without its text being written again: a recursive
    one makes a value that contains itself (every walk over it would never end), and
    aliases of aliases expand exponentially ("a billion laughs"). The expanded size, counted
    in characters of scalars, must stay within a multiple of the text's size, so everything
    done with the data later stays linear in the size of the file. Linear itself: one
    depth-first walk over the nodes, each weighed once.
    """
    if node is None:
        return None
    limit = 16 * text_size + 1_000_000
    weight: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, finished = stack.pop()
        key = id(current)
        if finished:
            on_path.discard(key)
            total = 1 + sum(weight[id(c)] for c in _children(current))
            if isinstance(current.value, str):
                total += len(current.value)
            if total > limit:
                return (
                    f"aliases expand this value past {limit} characters",
                    current,
                    "write the values out, or reuse them fewer times",
                )
            weight[key] = total
            continue
        if key in weight:
            continue
        on_path.add(key)
        stack.append((current, True))
        for sub in _children(current):
            if id(sub) in on_path:
                return (
                    "a recursive alias: the value contains itself",
                    sub,
                    "an alias cannot name a value it is inside",
                )
            if id(sub) not in weight:
                stack.append((sub, False))
    return None


def duplicate_keys(node: Node | None, label: str, first_line: int = 1) -> list[str]:
    """A warning at file:line for each key written again in the same mapping (the last one wins).

    `first_line` is the file line of the text's first line. Iterative, and each node is
    visited once however often aliases repeat it, so the walk is linear in the document.
    """
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MappingNode):
            lines: dict[tuple[str, str], int] = {}
            for key, value in current.value:
                if key.tag != "tag:yaml.org,2002:merge" and isinstance(key.value, str):
                    at = key.start_mark.line + first_line
                    first = lines.get((key.tag, key.value))
                    if first is None:
                        lines[(key.tag, key.value)] = at
                    else:
                        found.append(
                            (
                                at,
                                f"{label}:{at}: duplicate key '{key.value}' "
                                f"(first at line {first}); the last one is used",
                            )
                        )
                stack.extend((value, key))
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)
    found.sort(key=lambda item: item[0])
    return [warning for _, warning in found]


def line_of(node: Node | None) -> int | None:
    """1-based line where a node starts."""
    return node.start_mark.line + 1 if node is not None else None


def child(node: Node | None, key: str) -> Node | None:
    """The value node of `key` in a mapping node (None if absent or not a mapping)."""
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key:
                return v
    return None


def key_lines(node: Node | None) -> dict[str, int]:
    """Line of each key of a mapping node."""
    if not isinstance(node, MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 for k, _ in node.value}


def items(node: Node | None) -> list[Node]:
    """The item nodes of a sequence node, or the value nodes of a mapping node."""
    if node is None:
        return []
    if isinstance(node, MappingNode):
        return [v for _, v in node.value]
    value = node.value
    return list(value) if isinstance(value, list) else []


__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "SkippedFile",
    "YAMLError",
    "child",
    "alias_problem",
    "display_path",
    "duplicate_keys",
    "exists",
    "items",
    "key_lines",
    "line_of",
    "load_yaml",
    "read_text",
    "real_path",
    "safe_load",
]


def safe_load(
    text: str, label: str = "", warnings: list[str] | None = None, first_line: int = 1
) -> Any:
    """Plain data from YAML, for text whose lines no error needs (skill front matter). Raises YAMLError.

    Duplicate keys are warnings in `warnings`, at lines counted from `first_line`.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        problem = alias_problem(node, len(text))
        if problem is not None:
            raise YAMLError(problem[0])
        if warnings is not None:
            warnings.extend(duplicate_keys(node, label, first_line))
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
