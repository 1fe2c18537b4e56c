"""YAML for the workspace loader: data plus the nodes that carry line numbers, and errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml import YAMLError
from yaml.nodes import MappingNode, Node

from .errors import WorkspaceError

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


def read_text(path: Path, label: str) -> str:
    """The file's text, or a WorkspaceError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkspaceError("file not found", file=label) from None
    except UnicodeDecodeError as exc:
        raise WorkspaceError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            file=label,
            hint="save it as UTF-8",
        ) from None
    except OSError as exc:
        raise WorkspaceError(f"cannot read: {exc.strerror or exc}", file=label) from None


def load_yaml(text: str, label: str) -> tuple[Any, Node | None]:
    """Parse one YAML document into (data, root node); bad YAML is a WorkspaceError at file:line:col."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
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
    "YAMLError",
    "child",
    "display_path",
    "items",
    "key_lines",
    "line_of",
    "load_yaml",
    "read_text",
    "safe_load",
]


def safe_load(text: str) -> Any:
    """Plain data from YAML, for text whose lines no error needs (skill front matter). Raises YAMLError."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
