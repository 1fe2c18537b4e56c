"""Which files of the project a tool sees: what git would track, or what .gitignore allows.

In a git repository the answer is git's own (`git ls-files --cached --others
--exclude-standard`); elsewhere a small reader of `.gitignore` files (one per folder,
fnmatch patterns, `!` to re-include, a trailing `/` for folders only) decides. `.git/` is
never listed. These are blocking calls: tools run them through `asyncio.to_thread`.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from paracle_engine.tools.base import ToolError

GIT_LIST_TIMEOUT = 30.0


@dataclass(frozen=True)
class _Pattern:
    base: str  # the folder of the .gitignore, relative to the root, "" for the root
    glob: str
    negated: bool
    dir_only: bool
    anchored: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel.startswith(self.base + "/"):
                return False
            rel = rel[len(self.base) + 1 :]
        if self.anchored:
            return fnmatch.fnmatchcase(rel, self.glob)
        return fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], self.glob)


def _read_gitignore(folder: Path, base: str) -> list[_Pattern]:
    try:
        text = (folder / ".gitignore").read_text("utf-8", errors="replace")
    except OSError:
        return []
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/").replace("**/", "*").replace("/**", "/*")
        if line:
            patterns.append(_Pattern(base, line, negated, dir_only, anchored))
    return patterns


def _ignored(patterns: list[_Pattern], rel: str, is_dir: bool) -> bool:
    ignored = False
    for pattern in patterns:
        if pattern.matches(rel, is_dir):
            ignored = not pattern.negated
    return ignored


def _walk(root: Path, start: Path) -> list[str]:
    """Files under `start` not ignored by the .gitignore files on the way, relative to root."""
    patterns: list[_Pattern] = []
    rel_start = start.relative_to(root).as_posix() if start != root else ""
    # The .gitignore files from the root down to start apply too.
    folder = root
    patterns.extend(_read_gitignore(root, ""))
    for part in Path(rel_start).parts if rel_start else ():
        folder = folder / part
        patterns.extend(_read_gitignore(folder, folder.relative_to(root).as_posix()))
    found: list[str] = []
    stack: list[tuple[Path, list[_Pattern]]] = [(start, patterns)]
    while stack:
        here, active = stack.pop()
        if here != start:
            active = active + _read_gitignore(here, here.relative_to(root).as_posix())
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = Path(entry.path).relative_to(root).as_posix()
            is_dir = entry.is_dir(follow_symlinks=False)
            if entry.name == ".git" or _ignored(active, rel, is_dir):
                continue
            if is_dir:
                stack.append((Path(entry.path), active))
            else:
                found.append(rel)
    return sorted(found)


def _git_root(root: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=GIT_LIST_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "true"


def project_files(root: Path, start: Path) -> list[str]:
    """The files under `start` a tool may look at, relative to `root`, sorted.

    Both are resolved paths, `start` inside `root`. Git's view when `root` is in a work
    tree, the .gitignore reader otherwise.
    """
    if not _git_root(root):
        return _walk(root, start)
    rel = start.relative_to(root).as_posix() if start != root else "."
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", rel],
            cwd=root,
            capture_output=True,
            timeout=GIT_LIST_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ToolError("listing the project's files with git timed out") from None
    except OSError as exc:
        raise ToolError(f"cannot run git: {exc}") from None
    if out.returncode != 0:
        return _walk(root, start)
    names = {n for n in out.stdout.decode("utf-8", errors="replace").split("\0") if n}
    # Tracked files deleted from the work tree are not there to read.
    return sorted(n for n in names if os.path.lexists(root / n))
