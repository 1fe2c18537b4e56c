"""The file tools on real project folders: reads, listings, writes, edits, confinement."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paracle_engine.tools.base import ToolContext, ToolOutput, ToolRegistry
from paracle_engine.tools.files import FILE_TOOLS

SECRET = "top-secret-outside-content"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".parac").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    (tmp_path / "outside.txt").write_text(SECRET)
    return root


async def call(project: Path, name: str, **arguments: object) -> ToolOutput:
    ctx = ToolContext(root=project, max_file_bytes=4096)
    return await ToolRegistry(FILE_TOOLS).call(name, arguments, ctx)


async def test_read_file_reads_lines_and_says_where_it_stopped(project: Path):
    whole = await call(project, "read_file", path="src/a.py")
    assert whole == ToolOutput((project / "src" / "a.py").read_text())
    part = await call(project, "read_file", path="src/a.py", offset=3, limit=2)
    assert part.content == "line 3\nline 4\n[lines 3-4 of 10; pass offset to read on]"


async def test_read_file_refuses_what_is_not_a_small_regular_file(project: Path):
    (project / "big.txt").write_text("x" * 5000)
    os.mkfifo(project / "pipe")
    big = await call(project, "read_file", path="big.txt")
    assert big.is_error and "over the limit of 4096 bytes" in big.content
    pipe = await call(project, "read_file", path="pipe")  # would block if opened plainly
    assert pipe.is_error and "FIFO" in pipe.content
    gone = await call(project, "read_file", path="nope.txt")
    assert gone.is_error and "file not found" in gone.content


@pytest.mark.parametrize("path", ["../outside.txt", "link.txt", "linkdir/outside.txt"])
async def test_nothing_outside_the_root_is_read(project: Path, path: str):
    (project / "link.txt").symlink_to(project.parent / "outside.txt")
    (project / "linkdir").symlink_to(project.parent)
    for name, extra in (("read_file", {}), ("edit_file", {"old": "top", "new": "x"})):
        result = await call(project, name, path=path, **extra)
        assert result.is_error and "path is outside the project root" in result.content
        assert SECRET not in result.content
    assert (project.parent / "outside.txt").read_text() == SECRET


async def test_writes_outside_the_root_are_refused(project: Path):
    (project / "link.txt").symlink_to(project.parent / "outside.txt")
    for path in ("../outside.txt", "link.txt", "../new.txt"):
        result = await call(project, "write_file", path=path, content="pwned")
        assert result.is_error and "outside the project root" in result.content
    assert (project.parent / "outside.txt").read_text() == SECRET
    assert not (project.parent / "new.txt").exists()


async def test_write_file_creates_folders_and_replaces(project: Path):
    made = await call(project, "write_file", path="docs/new/notes.md", content="hello\n")
    assert made == ToolOutput("created docs/new/notes.md (6 bytes)")
    again = await call(project, "write_file", path="docs/new/notes.md", content="bye")
    assert (
        again.content.startswith("wrote") and (project / "docs/new/notes.md").read_text() == "bye"
    )


async def test_edit_file_replaces_exactly_one_occurrence(project: Path):
    target = project / "src" / "a.py"
    done = await call(project, "edit_file", path="src/a.py", old="line 7\n", new="seven\n")
    assert done == ToolOutput("edited src/a.py at line 7")
    assert "seven\n" in target.read_text() and "line 7\n" not in target.read_text()
    missing = await call(project, "edit_file", path="src/a.py", old="line 70", new="x")
    assert missing.is_error and "not found" in missing.content
    before = target.read_text()
    twice = await call(project, "edit_file", path="src/a.py", old="line 1", new="x")
    assert twice.is_error and "found 2 times" in twice.content  # line 1 and line 10
    assert target.read_text() == before


async def test_list_files_lists_a_folder_and_matches_a_pattern(project: Path):
    (project / "src" / "b.txt").write_text("b")
    (project / ".gitignore").write_text("*.log\n")
    (project / "src" / "debug.log").write_text("noise")
    listed = await call(project, "list_files")
    assert listed.content.splitlines() == [".gitignore", ".parac/", "src/"]
    matched = await call(project, "list_files", pattern="*.py")
    assert matched.content == "src/a.py"
    logs = await call(project, "list_files", path="src", pattern="*.log")
    assert logs.content.startswith("no files match")
    outside = await call(project, "list_files", path="..")
    assert outside.is_error and "outside the project root" in outside.content
