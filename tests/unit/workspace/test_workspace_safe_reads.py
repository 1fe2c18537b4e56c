"""Workspace files from outside: FIFOs, devices, sockets, symlink loops and oversize files.

Each special file is real (os.mkfifo, a symlink to a device, a bound AF_UNIX socket, a
symlink to itself). Every read runs with a deadline, so a read that blocks fails the test
instead of hanging it; a blocked FIFO reader is released by opening the FIFO for writing.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paracle_engine.config import Settings
from paracle_engine.errors import BadInputError, WorkspaceError
from paracle_engine.workspace.loader import (
    find_workspace,
    load_workspace,
    parse_workflow,
    write_demo,
)
from paracle_engine.workspace.yaml_source import (
    DEFAULT_MAX_FILE_BYTES,
    SkippedFile,
    duplicate_keys,
    load_yaml,
    read_text,
)

DEADLINE = 10.0


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def fifos() -> Iterator[Callable[[Path], Path]]:
    """Make FIFOs; at the end, open each for writing so a reader stuck on one gets EOF."""
    made: list[Path] = []

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        made.append(path)
        return path

    yield make
    for path in made:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader waiting: nothing to release
            pass


def finishes(fn: Callable[[], Any]) -> Any:
    """fn()'s result (or raised exception), failing the test if it takes over DEADLINE."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"still reading after {DEADLINE}s: it blocked"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def bind_socket(path: Path) -> socket.socket:
    """A bound AF_UNIX socket at `path` (bound by a relative name: socket paths are short)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
    return sock


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A copy of the demo workspace to spoil."""
    write_demo(tmp_path)
    return tmp_path


def skipped_lines(warnings: list[str], name: str) -> list[str]:
    return [w for w in warnings if name in w]


# --------------------------------------------------------------------------- the one read


def test_read_text_refuses_each_kind_of_special_file_without_blocking(tmp_path, fifos):
    fifo = fifos(tmp_path / "fifo.yaml")
    device = tmp_path / "null.yaml"
    device.symlink_to(os.devnull)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop.name)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    sock = bind_socket(tmp_path / "sock.yaml")
    try:
        expected = {
            fifo: "skipped: a FIFO, not a regular file",
            device: "skipped: a character device, not a regular file",
            loop: "skipped: a symlink loop",
            folder: "skipped: a directory, not a regular file",
            tmp_path / "sock.yaml": "skipped: a socket, not a regular file",
        }
        for path, why in expected.items():
            with pytest.raises(SkippedFile) as caught:
                finishes(lambda p=path: read_text(p, str(p), limit=100))
            assert caught.value.one_line() == f"{path}: {why}"
    finally:
        sock.close()


def test_read_text_follows_symlinks_to_regular_files(tmp_path):
    target = write(tmp_path, "real/agents.yaml", "agents: []\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert read_text(link, "link.yaml", limit=100) == "agents: []\n"


def test_the_size_cap_is_checked_before_reading_and_while_reading(tmp_path):
    exact = tmp_path / "exact.yaml"
    exact.write_bytes(b"x" * 100)
    assert read_text(exact, "exact.yaml", limit=100) == "x" * 100
    over = tmp_path / "over.yaml"
    over.write_bytes(b"x" * 101)
    with pytest.raises(SkippedFile) as caught:
        read_text(over, "over.yaml", limit=100)
    assert caught.value.one_line() == (
        "over.yaml: skipped: 101 bytes, over the limit of 100 bytes "
        "(raise `max_file_bytes` under [workspace] in config.toml to read it)"
    )
    # A regular file whose stat says 0 bytes but which reads on (the kernel makes it up as it
    # goes): the read stops at limit + 1 bytes.
    proc = Path("/proc/self/maps")
    if proc.is_file() and proc.stat().st_size == 0:
        with pytest.raises(SkippedFile, match="more than that, over the limit of 10 bytes"):
            read_text(proc, "maps", limit=10)


def test_the_default_cap_is_one_mib_and_the_setting_agrees():
    assert DEFAULT_MAX_FILE_BYTES == 1024 * 1024
    assert Settings().workspace.max_file_bytes == DEFAULT_MAX_FILE_BYTES


def test_missing_and_non_utf8_files_are_errors_not_skips(tmp_path):
    with pytest.raises(WorkspaceError, match="file not found") as caught:
        read_text(tmp_path / "none.yaml", "none.yaml")
    assert not isinstance(caught.value, SkippedFile)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(WorkspaceError, match="not UTF-8") as caught:
        read_text(bad, "latin1.yaml")
    assert not isinstance(caught.value, SkippedFile)


# --------------------------------------------------------------------------- the workspace


def test_special_workflow_files_are_one_warning_each_and_not_listed(ws, fifos):
    definitions = ws / ".parac" / "workflows" / "definitions"
    fifos(definitions / "fifo.yaml")
    (definitions / "null.yaml").symlink_to(os.devnull)
    (definitions / "loop.yaml").symlink_to("loop.yaml")
    (definitions / "big.yaml").write_text("name: big\n" + "#" * 5000 + "\n", encoding="utf-8")
    sock = bind_socket(definitions / "sock.yaml")
    try:
        loaded = finishes(lambda: load_workspace(ws, max_file_bytes=4096))
    finally:
        sock.close()
    assert sorted(loaded.workflows) == ["quick_answer", "research_report"]
    why = {
        "fifo.yaml": "skipped: a FIFO, not a regular file",
        "null.yaml": "skipped: a character device, not a regular file",
        "loop.yaml": "skipped: a symlink loop",
        "big.yaml": "skipped: 5011 bytes, over the limit of 4096 bytes",
        "sock.yaml": "skipped: a socket, not a regular file",
    }
    for name, reason in why.items():
        lines = skipped_lines(loaded.warnings, name)
        assert len(lines) == 1, (name, loaded.warnings)
        assert lines[0].startswith(f"{definitions / name}: {reason}") or lines[0].startswith(
            f"{os.path.relpath(definitions / name)}: {reason}"
        )
    assert len(loaded.warnings) == len(why)
    # The agents, which need none of these files, are all there.
    assert sorted(loaded.agents) == ["critic", "researcher", "senior-writer", "writer"]
    # Good workflows still load.
    assert loaded.load_workflow("quick_answer").steps


def test_a_special_file_named_directly_is_an_error_not_a_hang(ws, fifos):
    fifo = fifos(ws / "elsewhere.yaml")
    loaded = load_workspace(ws)
    with pytest.raises(SkippedFile, match="a FIFO, not a regular file"):
        finishes(lambda: loaded.load_workflow(str(fifo)))


def test_a_catalog_entry_naming_a_special_file_says_so_when_loaded(ws, fifos):
    workflows = ws / ".parac" / "workflows"
    fifos(workflows / "definitions" / "piped.yaml")
    write(
        workflows, "catalog.yaml", "workflows:\n  - name: piped\n    file: definitions/piped.yaml\n"
    )
    loaded = finishes(lambda: load_workspace(ws))
    assert len(skipped_lines(loaded.warnings, "piped.yaml")) == 1
    assert loaded.workflows["piped"].status == "unreadable"
    with pytest.raises(SkippedFile, match="piped.yaml: skipped: a FIFO"):
        finishes(lambda: loaded.load_workflow("piped"))


def test_a_special_catalog_means_listing_the_files(ws, fifos):
    (ws / ".parac" / "workflows" / "catalog.yaml").unlink()
    fifos(ws / ".parac" / "workflows" / "catalog.yaml")
    loaded = finishes(lambda: load_workspace(ws))
    assert sorted(loaded.workflows) == ["quick_answer", "research_report"]
    (line,) = skipped_lines(loaded.warnings, "catalog.yaml")
    assert "skipped: a FIFO, not a regular file; listing the workflow files instead" in line


def test_special_specs_skills_and_manifest_are_one_warning_each(ws, fifos):
    agents = ws / ".parac" / "agents"
    (agents / "specs" / "critic.md").unlink()
    fifos(agents / "specs" / "critic.md")
    (agents / "specs" / "writer.md").unlink()
    (agents / "specs" / "writer.md").symlink_to(os.devnull)
    skill = next((agents / "skills").glob("*/SKILL.md"))
    skill.unlink()
    skill.symlink_to(skill.name)  # a loop
    (agents / "skills" / "looped").symlink_to("looped")  # a folder that is a loop
    loaded = finishes(lambda: load_workspace(ws))
    for name in ("critic.md", "writer.md", str(Path(skill.parent.name) / "SKILL.md")):
        assert len(skipped_lines(loaded.warnings, f"{name}: skipped")) == 1, (name, loaded.warnings)
    assert skill.parent.name not in loaded.skills
    # Agents using that skill do not repeat the warning as "skill not found".
    assert not [w for w in loaded.warnings if "not found" in w], loaded.warnings
    # The spec is skipped, the agents are not: their prompt comes from name and description.
    assert loaded.agents["critic"].system_prompt.startswith("You are Critic.")
    # writer.md is used by writer and, through inheritance, senior-writer: still one warning.
    assert "writer" in loaded.agents and "senior-writer" in loaded.agents

    (agents / "manifest.yaml").unlink()
    fifos(agents / "manifest.yaml")
    loaded = finishes(lambda: load_workspace(ws))
    assert loaded.agents == {}
    (line,) = skipped_lines(loaded.warnings, "manifest.yaml")
    assert "skipped: a FIFO, not a regular file; the workspace has no agents" in line
    assert sorted(loaded.workflows) == ["quick_answer", "research_report"]


def test_the_cap_comes_from_config_toml(ws, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PARACLE_HOME", str(home))
    big = ws / ".parac" / "workflows" / "definitions" / "research_report.yaml"
    size = big.stat().st_size
    assert load_workspace(ws).warnings == []
    (home / "config.toml").write_text(f"[workspace]\nmax_file_bytes = {size - 1}\n")
    loaded = load_workspace(ws)
    (line,) = skipped_lines(loaded.warnings, "research_report.yaml")
    assert f"skipped: {size} bytes, over the limit of {size - 1} bytes" in line
    # The catalog lists it: it stays listed, and loading it says why it cannot be.
    assert loaded.workflows["research_report"].status == "unreadable"
    assert loaded.workflows["quick_answer"].status == "active"
    with pytest.raises(SkippedFile, match="over the limit"):
        loaded.load_workflow("research_report")
    assert loaded.max_file_bytes == size - 1


def test_symlink_loops_on_the_way_to_the_workspace_are_not_errors(tmp_path):
    # A loop where `.parac` would be, in the start folder and in the one above.
    outer = tmp_path / "outer"
    inner = outer / "inner"
    inner.mkdir(parents=True)
    (inner / ".parac").symlink_to(".parac")
    write_demo(tmp_path)
    assert find_workspace(inner) == tmp_path.resolve()
    looped = tmp_path / "looped"
    looped.symlink_to("looped")
    assert find_workspace(looped) == tmp_path.resolve()
    with pytest.raises(BadInputError, match="does not exist"):
        load_workspace(looped)


def test_a_looping_workflow_folder_lists_no_files_and_no_error(ws):
    definitions = ws / ".parac" / "workflows" / "definitions"
    for path in definitions.iterdir():
        path.unlink()
    definitions.rmdir()
    definitions.symlink_to("definitions")
    loaded = load_workspace(ws)
    # The catalog's entries point into the loop: listed as missing, the rest goes on.
    assert {e.status for e in loaded.workflows.values()} == {"missing"}
    (ws / ".parac" / "workflows" / "catalog.yaml").unlink()
    loaded = load_workspace(ws)
    assert loaded.workflows == {} and loaded.warnings == []
    assert sorted(loaded.agents) == ["critic", "researcher", "senior-writer", "writer"]


# --------------------------------------------------------------------------- duplicate keys


def test_duplicate_keys_are_warnings_at_file_and_line(ws):
    parac = ws / ".parac"
    manifest = parac / "agents" / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    assert text.endswith("\n")
    manifest.write_text(text + "defaults:\n  model: x\n", encoding="utf-8")
    flow = write(
        parac,
        "workflows/definitions/twice.yaml",
        """
        name: twice
        steps:
          - id: a
            agent: writer
            prompt: first
            prompt: second
        name: again
        """,
    )
    skill = write(
        parac,
        "agents/skills/dup/SKILL.md",
        """
        ---
        name: dup
        description: one
        description: two
        ---
        Body.
        """,
    )
    loaded = load_workspace(ws)
    label = os.path.relpath(manifest) if manifest.is_relative_to(Path.cwd()) else str(manifest)
    first = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("defaults:"))
    second = len(text.splitlines()) + 1
    assert (
        f"{label}:{second}: duplicate key 'defaults' (first at line {first}); the last one is used"
        in loaded.warnings
    )
    skill_label = os.path.relpath(skill) if skill.is_relative_to(Path.cwd()) else str(skill)
    assert (
        f"{skill_label}:4: duplicate key 'description' (first at line 3); the last one is used"
        in loaded.warnings
    )
    assert loaded.skills["dup"].description == "two"
    spec = loaded.load_workflow("twice")
    flow_label = spec.source.file
    assert Path(flow_label).resolve() == flow.resolve()
    dups = [w for w in spec.warnings if "duplicate key" in w]
    assert dups == [
        f"{flow_label}:6: duplicate key 'prompt' (first at line 5); the last one is used",
        f"{flow_label}:7: duplicate key 'name' (first at line 1); the last one is used",
    ]
    assert spec.name == "again" and spec.steps[0].prompt == "second"


def test_keys_repeated_through_an_alias_are_not_duplicates(tmp_path):
    text = "base: &b {model: m, provider: p}\none: *b\ntwo: *b\nthree: {<<: *b, model: n}\n"
    warnings: list[str] = []
    data, _ = load_yaml(text, "f.yaml", warnings)
    assert warnings == [] and data["three"] == {"model": "n", "provider": "p"}
    _, node = load_yaml("a: 1\nb: {x: 1, x: 2}\na: 3\n", "f.yaml")
    assert duplicate_keys(node, "f.yaml") == [
        "f.yaml:2: duplicate key 'x' (first at line 2); the last one is used",
        "f.yaml:3: duplicate key 'a' (first at line 1); the last one is used",
    ]


# --------------------------------------------------------------------------- aliases


def test_a_recursive_alias_is_an_error_at_its_line_not_a_value_without_end(tmp_path):
    flow = write(
        tmp_path,
        "w.yaml",
        """
        name: w
        steps:
          - id: a
            agent: writer
            inputs: &loop {again: *loop}
        """,
    )
    with pytest.raises(WorkspaceError) as caught:
        parse_workflow(flow)
    assert caught.value.line == 5
    assert "a recursive alias: the value contains itself" in caught.value.one_line()


def test_aliases_of_aliases_may_not_expand_past_a_multiple_of_the_file(tmp_path):
    lines = ["name: w", "steps:", "  - id: a", "    agent: writer", "    inputs:"]
    lines.append("      l0: &l0 ['{{ inputs.x }}', b, c, d, e, f, g, h, i, j]")
    for i in range(1, 9):  # 10**9 strings from under a kilobyte
        lines.append(f"      l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    flow = tmp_path / "laughs.yaml"
    flow.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="aliases expand this value past") as caught:
        finishes(lambda: parse_workflow(flow))
    assert caught.value.file and caught.value.line
    # Reuse within reason is fine: a default block merged into each of many steps.
    steps = "\n".join(f"  - {{<<: *d, id: s{i}}}" for i in range(500))
    data, _ = load_yaml(f"d: &d {{agent: writer, prompt: go}}\nsteps:\n{steps}\n", "ok.yaml")
    assert len(data["steps"]) == 500 and data["steps"][-1]["prompt"] == "go"
