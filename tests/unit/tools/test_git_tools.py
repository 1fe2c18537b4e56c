"""The git tools on a real repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from paracle_engine.tools.base import ToolContext, ToolOutput
from paracle_engine.tools.builtin import builtin_registry

IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, timeout=30)
    (root / "a.txt").write_text("one\n")
    return root


async def git(root: Path, name: str, **arguments: object) -> ToolOutput:
    return await builtin_registry().call(name, arguments, ToolContext(root=root))


async def test_status_add_commit_log_and_diff(repo: Path):
    status = await git(repo, "git_status")
    assert "?? a.txt" in status.content and "[exit code 0]" in status.content
    assert await git(repo, "git_add", paths=["a.txt"]) == ToolOutput("added a.txt")
    staged = await git(repo, "git_diff", staged=True)
    assert "+one" in staged.content
    committed = await git(repo, "git_commit", message="First: a.txt")
    assert not committed.is_error and "First: a.txt" in committed.content
    log = await git(repo, "git_log")
    assert "Ada Tester: First: a.txt" in log.content
    (repo / "a.txt").write_text("one\ntwo\n")
    diff = await git(repo, "git_diff", path="a.txt")
    assert "+two" in diff.content and "-one" not in diff.content


async def test_git_refuses_paths_outside_and_reports_failures(repo: Path):
    outside = await git(repo, "git_add", paths=["../elsewhere.txt"])
    assert outside.is_error and "outside the project root" in outside.content
    nothing = await git(repo, "git_commit", message="nothing staged")
    assert nothing.is_error and "[exit code 1]" in nothing.content
    empty = await git(repo, "git_commit", message="  ")
    assert empty.is_error and "must not be empty" in empty.content


async def test_git_outside_a_repository_is_an_error_result(tmp_path: Path):
    result = await git(tmp_path, "git_status")
    assert result.is_error and "not a git repository" in result.content
