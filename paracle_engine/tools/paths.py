"""Confinement to the project root: every path a tool touches is resolved and checked here.

The project root is the folder holding `.parac/` (found upwards from the cwd) or the one
given with `--root`. A path from the model is taken relative to the root, resolved with
`os.path.realpath` (so `..` and symlinks are followed to where they really lead) and
refused, with "path is outside the project root", unless it lands in the root. Tools open
the resolved path only, so a symlink pointing outside never yields outside content.
"""

from __future__ import annotations

import os
from pathlib import Path

from paracle_engine.errors import BadInputError
from paracle_engine.tools.base import ToolError

OUTSIDE_ROOT = "path is outside the project root"


class OutsideRootError(ToolError):
    """A path that resolves outside the project root."""


def find_project_root(start: Path | None = None, root: Path | None = None) -> Path:
    """The project root: `root` if given (`--root`), else the nearest folder holding `.parac/`.

    Raises BadInputError when `root` is not a directory or no `.parac/` is found.
    """
    if root is not None:
        real = Path(os.path.realpath(root.expanduser()))
        if not real.is_dir():
            raise BadInputError(f"project root {root} is not a directory")
        return real
    here = Path(os.path.realpath(start if start is not None else Path.cwd()))
    for folder in (here, *here.parents):
        if (folder / ".parac").is_dir():
            return folder
    raise BadInputError(
        f"no .parac/ folder in {here} or above it", hint="run `paracle init` or pass --root"
    )


def is_within(root: Path, path: Path) -> bool:
    """Whether the real `path` is the real `root` or under it (both already resolved)."""
    root_text = str(root)
    text = str(path)
    return text == root_text or text.startswith(root_text.rstrip(os.sep) + os.sep)


def resolve_in_root(root: Path, path: str | None) -> Path:
    """`path` (relative to `root`, or absolute) resolved for real; OutsideRootError if outside.

    An empty path or "." is the root itself. The answer is the resolved path, the only one a
    tool should open.
    """
    real_root = Path(os.path.realpath(root))
    text = path if path else "."
    if "\x00" in text:
        raise ToolError(f"invalid path {text!r}")
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = real_root / candidate
    real = Path(os.path.realpath(candidate))
    if not is_within(real_root, real):
        raise OutsideRootError(f"{OUTSIDE_ROOT}: {text}")
    return real


def relative_to_root(root: Path, path: Path) -> str:
    """`path` as the model should see it: relative to the root, with '/' separators."""
    real_root = Path(os.path.realpath(root))
    try:
        rel = path.relative_to(real_root)
    except ValueError:
        return str(path)
    return rel.as_posix() if rel.parts else "."
