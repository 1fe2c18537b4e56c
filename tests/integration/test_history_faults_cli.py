"""A history that fails does not cost a run its results, and each fault is named for what it is.

Every condition here is real, made for the `paracle` subprocess alone:

- a full disk: a small tmpfs, filled (needs the right to mount; skipped where it is refused);
- a file size limit: RLIMIT_FSIZE set in the subprocess (always works), SIGXFSZ ignored, so
  SQLite's writes past it fail for real;
- a read-only file system: a read-only bind mount (needs the right to mount);
- read-only permissions: a 0500 folder and 0400 file, with the subprocess stripped of the
  capabilities that let root ignore permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH);
- a corrupt file: random bytes where history.db should be.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import PARACLE, cli_env

MANIFEST = """\
defaults:
  provider: simulated
  model: sim-1ms
agents:
  - id: writer
"""

TWO = """\
name: two
inputs:
  topic: {type: string, required: true}
steps:
  - id: first
    agent: writer
    prompt: "notes on {{ inputs.topic }}"
    outputs: [note]
  - id: second
    agent: writer
    depends_on: [first]
    prompt: "follow up on {{ steps.first.outputs.note }}"
outputs:
  note: {source: steps.first.outputs.note}
"""

# Larger than the room left for the history in the tests below, small enough for one argument.
BIG_TOPIC = "caching " + "w" * 60_000


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".parac" / "agents").mkdir(parents=True)
    (root / ".parac" / "agents" / "manifest.yaml").write_text(MANIFEST)
    (root / ".parac" / "workflows" / "definitions").mkdir(parents=True)
    (root / ".parac" / "workflows" / "definitions" / "two.yaml").write_text(TWO)
    return root


def paracle(
    *args: str, home: Path, cwd: Path, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARACLE, *args],
        env=cli_env(home, COLUMNS="200"),
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=preexec,
    )


def record_a_run(home: Path, ws: Path) -> str:
    out = paracle("workflow", "run", "two", "--json", "-i", "topic=caching", home=home, cwd=ws)
    assert out.returncode == 0, out.stderr
    run_id: str = json.loads(out.stdout)["run_id"]
    return run_id


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


# --------------------------------------------------------------------------- real conditions


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or done.returncode})")


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True, timeout=30)


@contextlib.contextmanager
def read_only_view(source: Path, where: Path) -> Iterator[Path]:
    where.mkdir(parents=True)
    _mount("--bind", str(source), str(where))
    try:
        _mount("-o", "remount,ro,bind", str(where))
        with pytest.raises(OSError):
            (where / "probe").write_text("x")  # truly read-only, for root too
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True, timeout=30)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system under `folder`, then give back `leave` bytes."""
    filler = folder / "filler"
    with filler.open("wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))


def file_size_limit(limit: int) -> Callable[[], None]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _drop_dac() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def permissions_apply() -> Callable[[], None] | None:
    """A preexec under which file permissions bind this test's subprocess, even as root."""
    if os.geteuid() != 0:
        return None
    probe = subprocess.run(
        ["cat", "/proc/self/status"], preexec_fn=_drop_dac, capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip("root here cannot drop CAP_DAC_OVERRIDE, so permissions cannot bind it")
    return _drop_dac


# --------------------------------------------------------------------------- a failing write


def test_a_disk_that_fills_mid_run_keeps_the_outputs_and_says_what_was_lost(
    tmp_path: Path, ws: Path
) -> None:
    with tmpfs(tmp_path / "disk", "2m") as disk:
        home = disk / "home"
        record_a_run(home, ws)
        fill(disk, leave=48 * 1024)  # room to open the file (its -shm), not for the run
        out = paracle(
            "workflow", "run", "two", "--json", "-i", f"topic={BIG_TOPIC}", home=home, cwd=ws
        )
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["status"] == "completed"
        assert data["outputs"]["note"].startswith("Simulated note")
        # Mid-run: the history opened, then its writes failed.
        assert "history is off" not in out.stderr
        assert "history is failing, the run goes on" in out.stderr
        lost = last_line(out.stderr)
        assert lost.startswith("warning: the run is not fully in the history")
        assert "the disk is full" in lost and "were not saved" in lost
        assert "not a Paracle history" not in out.stderr

        agent = paracle("run", "writer", "-t", BIG_TOPIC, home=home, cwd=ws)
        assert agent.returncode == 0, agent.stderr
        assert agent.stdout.startswith("## Simulated answer")
        assert "the disk is full" in last_line(agent.stderr)


def test_a_full_disk_at_open_is_named_so_and_the_history_still_reads(
    tmp_path: Path, ws: Path
) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        home = disk / "home"
        run_id = record_a_run(home, ws)
        fill(disk, leave=0)
        out = paracle("workflow", "run", "two", "-q", "-i", "topic=x", home=home, cwd=ws)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("note: Simulated note")
        assert "history is off" in out.stderr and "the disk is full" in out.stderr
        assert "not a Paracle history" not in out.stderr
        assert "move the file away" not in out.stderr

        listed = paracle("history", "list", home=home, cwd=ws)
        assert listed.returncode == 0, listed.stderr
        assert run_id in listed.stdout
        assert "the disk is full" in listed.stderr and "reading it as it is" in listed.stderr


def test_a_file_size_limit_mid_run_keeps_the_outputs(tmp_path: Path, ws: Path) -> None:
    home = tmp_path / "home"
    record_a_run(home, ws)
    limit = (home / "history.db").stat().st_size + 32 * 1024
    out = paracle(
        "workflow",
        "run",
        "two",
        "--json",
        "-i",
        f"topic={BIG_TOPIC}",
        home=home,
        cwd=ws,
        preexec=file_size_limit(limit),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "completed" and data["outputs"]["note"]
    lost = last_line(out.stderr)
    assert lost.startswith("warning: the run is not fully in the history")
    assert "file size limit" in lost and "were not saved" in lost


def test_a_failed_run_with_a_failing_history_still_exits_1(tmp_path: Path, ws: Path) -> None:
    home = tmp_path / "home"
    record_a_run(home, ws)
    limit = (home / "history.db").stat().st_size + 32 * 1024
    # The run itself fails (its time limit), and its history cannot be written either.
    (ws / ".parac" / "workflows" / "definitions" / "slow.yaml").write_text(
        "name: slow\nsteps:\n  - id: s\n    agent: writer\n"
        f"    prompt: '{'w' * 60_000}'\n    config: {{model: sim-5000ms}}\n"
    )
    out = paracle(
        "workflow",
        "run",
        "slow",
        "--json",
        "--timeout",
        "0.5",
        home=home,
        cwd=ws,
        preexec=file_size_limit(limit),
    )
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["status"] == "failed"
    assert "were not saved" in last_line(out.stderr)


# --------------------------------------------------------------------------- read-only


def _assert_reads(home: Path, ws: Path, run_id: str, preexec: Callable[[], None] | None) -> None:
    listed = paracle("history", "list", home=home, cwd=ws, preexec=preexec)
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    assert "reading it as it is" in listed.stderr
    shown = paracle("history", "show", run_id, "--json", home=home, cwd=ws, preexec=preexec)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "completed"
    found = paracle("history", "search", "caching", "--json", home=home, cwd=ws, preexec=preexec)
    assert found.returncode == 0, found.stderr
    assert [h["run_id"] for h in json.loads(found.stdout)] == [run_id]

    run = paracle(
        "workflow", "run", "two", "-q", "-i", "topic=x", home=home, cwd=ws, preexec=preexec
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("note: Simulated note")
    assert "history is off" in run.stderr and "read-only" in run.stderr
    assert "not a Paracle history" not in run.stderr

    delete = paracle("history", "delete", run_id, home=home, cwd=ws, preexec=preexec)
    assert delete.returncode == 1
    assert "read-only" in delete.stderr and "move the file away" not in delete.stderr


def test_a_read_only_file_system_is_listed_shown_and_searched(tmp_path: Path, ws: Path) -> None:
    home = tmp_path / "home"
    run_id = record_a_run(home, ws)
    with read_only_view(home, tmp_path / "ro") as ro:
        _assert_reads(ro, ws, run_id, None)
        doctor = paracle("doctor", home=ro, cwd=ws)
        assert "ok, 1 run" in doctor.stdout and "read-only" in doctor.stdout


@pytest.mark.parametrize("folder_mode", [0o500, 0o700], ids=["read-only folder", "file only"])
def test_read_only_permissions_are_listed_shown_and_searched(
    tmp_path: Path, ws: Path, folder_mode: int
) -> None:
    home = tmp_path / "home"
    run_id = record_a_run(home, ws)
    preexec = permissions_apply()
    (home / "history.db").chmod(0o400)
    home.chmod(folder_mode)
    try:
        _assert_reads(home, ws, run_id, preexec)
        # Nothing was changed: the runs are as they were recorded.
        with contextlib.closing(sqlite3.connect(home / "history.db")) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    finally:
        home.chmod(0o700)


# --------------------------------------------------------------------------- corrupt


def test_a_file_of_random_bytes_is_called_corrupt(tmp_path: Path, ws: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "history.db"
    db.write_bytes(os.urandom(16 * 1024))
    before = db.read_bytes()

    doctor = paracle("doctor", "--json", home=home, cwd=ws)
    assert doctor.returncode == 0, doctor.stderr
    check = json.loads(doctor.stdout)["history_db"]["check"]
    assert check["state"] == "corrupt" and check["ok"] is False
    text = paracle("doctor", home=home, cwd=ws).stdout
    assert "corrupt" in text and "move the file away" in text

    listed = paracle("history", "list", home=home, cwd=ws)
    assert listed.returncode == 1
    assert "is not a Paracle history database" in listed.stderr
    assert "move the file away" in listed.stderr

    run = paracle("workflow", "run", "two", "-q", "-i", "topic=x", home=home, cwd=ws)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("note: Simulated note")
    assert "history is off" in run.stderr and "move the file away" in run.stderr
    assert db.read_bytes() == before  # left exactly as it was


def test_doctor_on_a_sound_history(tmp_path: Path, ws: Path) -> None:
    home = tmp_path / "home"
    record_a_run(home, ws)
    doctor = paracle("doctor", "--json", home=home, cwd=ws)
    check = json.loads(doctor.stdout)["history_db"]["check"]
    assert check["state"] == "ok" and check["runs"] == 1 and check["writable"] is None
