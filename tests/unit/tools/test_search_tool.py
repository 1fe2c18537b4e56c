"""search_files over real folders: .gitignore respected (git's and the fallback's), binaries skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from paracle_engine.tools.base import ToolContext, ToolOutput, ToolRegistry
from paracle_engine.tools.search import SEARCH_FILES


def make_tree(root: Path) -> None:
    (root / ".parac").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "build").mkdir()
    (root / "src" / "app.py").write_text("import os\nNEEDLE = 1\n")
    (root / "src" / "keep.log").write_text("NEEDLE kept by negation\n")
    (root / "src" / "noise.log").write_text("NEEDLE in a log\n")
    (root / "build" / "out.py").write_text("NEEDLE built\n")
    (root / "blob.bin").write_bytes(b"NEEDLE\x00\x01\x02")
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")


def git_init(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)


async def search(root: Path, **arguments: object) -> ToolOutput:
    return await ToolRegistry([SEARCH_FILES]).call(
        "search_files", arguments, ToolContext(root=root)
    )


def expected() -> list[str]:
    return [
        "src/app.py:2: NEEDLE = 1",
        "src/keep.log:1: NEEDLE kept by negation",
    ]


async def test_search_in_a_git_repo_respects_gitignore(tmp_path: Path):
    root = tmp_path / "repo"
    make_tree(root)
    git_init(root)
    result = await search(root, pattern="NEEDLE")
    assert sorted(result.content.splitlines()) == expected()


async def test_search_without_git_reads_gitignore_itself(tmp_path: Path):
    root = tmp_path / "plain"
    make_tree(root)
    result = await search(root, pattern=r"NEEDLE")
    assert sorted(result.content.splitlines()) == expected()


async def test_search_narrows_to_a_path_and_reports_no_match(tmp_path: Path):
    make_tree(tmp_path)
    assert (await search(tmp_path, pattern="import", path="src")).content == (
        "src/app.py:1: import os"
    )
    none = await search(tmp_path, pattern="absent")
    assert not none.is_error and none.content.startswith("no matches")
    bad = await search(tmp_path, pattern="(")
    assert bad.is_error and "bad regular expression" in bad.content


@pytest.mark.parametrize("git", [True, False])
async def test_search_never_reads_through_a_symlink_out_of_the_root(tmp_path: Path, git: bool):
    root = tmp_path / "project"
    (root / ".parac").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("NEEDLE secret\n")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    if git:
        git_init(root)
    result = await search(root, pattern="NEEDLE")
    assert "secret" not in result.content
    outside = await search(root, pattern="NEEDLE", path="../secret.txt")
    assert outside.is_error and "outside the project root" in outside.content
