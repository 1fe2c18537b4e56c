"""Confinement: paths resolve inside the project root or are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from paracle_engine.errors import BadInputError
from paracle_engine.tools.paths import (
    OutsideRootError,
    find_project_root,
    relative_to_root,
    resolve_in_root,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".parac").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("print(1)\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return root


def test_the_root_is_the_folder_holding_parac_or_the_one_given(project: Path):
    assert find_project_root(project / "src") == project.resolve()
    assert find_project_root(root=project / "src") == (project / "src").resolve()
    with pytest.raises(BadInputError, match="no .parac/"):
        find_project_root(project.parent)
    with pytest.raises(BadInputError, match="not a directory"):
        find_project_root(root=project / "src" / "a.py")


def test_paths_inside_resolve(project: Path):
    root = project.resolve()
    assert resolve_in_root(project, "src/a.py") == root / "src" / "a.py"
    assert resolve_in_root(project, str(root / "src")) == root / "src"
    assert resolve_in_root(project, None) == root
    assert resolve_in_root(project, "src/../src/a.py") == root / "src" / "a.py"
    assert relative_to_root(project, root / "src" / "a.py") == "src/a.py"
    assert relative_to_root(project, root) == "."


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "src/../../outside.txt"])
def test_paths_outside_are_refused(project: Path, path: str):
    with pytest.raises(OutsideRootError, match="path is outside the project root"):
        resolve_in_root(project, path)


def test_a_symlink_escaping_the_root_is_refused(project: Path):
    (project / "link.txt").symlink_to(project.parent / "outside.txt")
    (project / "linkdir").symlink_to(project.parent)
    with pytest.raises(OutsideRootError):
        resolve_in_root(project, "link.txt")
    with pytest.raises(OutsideRootError):
        resolve_in_root(project, "linkdir/outside.txt")


def test_a_sibling_with_the_root_as_prefix_is_outside(project: Path):
    (project.parent / "project-other").mkdir()
    with pytest.raises(OutsideRootError):
        resolve_in_root(project, "../project-other")
