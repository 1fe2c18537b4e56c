"""`paracle workflow list | validate | run` through real subprocesses and the simulated provider."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PARACLE = [sys.executable, "-m", "paracle_tui.cli"]

MANIFEST = """\
defaults:
  provider: simulated
  model: sim-20ms
agents:
  - id: slow
    model: sim-600ms
  - id: fast
    model: sim-60ms
  - id: writer
"""

BRANCHES = """\
name: branches
description: A slow step beside a fast chain
inputs:
  topic: {type: string, required: true}
  files: {type: array, default: []}
steps:
  - id: slow_step
    agent: slow
    prompt: "take your time on {{ inputs.topic }}"
  - id: fast_1
    agent: fast
    prompt: "quick look at {{ inputs.files }}"
    outputs: [note]
  - id: fast_2
    agent: fast
    depends_on: [fast_1]
    prompt: "follow up on {{ steps.fast_1.outputs.note }}"
  - id: join
    agent: fast
    depends_on: [slow_step, fast_2]
    prompt: "{{ steps }}"
outputs:
  note: {source: steps.fast_1.outputs.note}
  files: "{{ inputs.files }}"
"""

APPROVAL = """\
name: approval
description: A draft a person signs off
steps:
  - id: draft
    agent: writer
    prompt: write a haiku
    requires_approval: true
  - id: publish
    agent: writer
    depends_on: [draft]
    prompt: "publish {{ steps.draft.output }}"
"""

LONG = """\
name: long
description: One step that takes a while
steps:
  - id: essay
    agent: writer
    prompt: write at length
    config: {model: sim-20000ms}
  - id: after
    agent: writer
    depends_on: [essay]
    prompt: then this
"""

REVIEW = """\
name: review
description: Write, have it checked by a person, publish
steps:
  - id: write
    agent: writer
    prompt: write a note
  - id: check
    agent: writer
    depends_on: [write]
    prompt: "check {{ steps.write.output }}"
    requires_approval: true
  - id: publish
    agent: writer
    depends_on: [check]
    prompt: publish it
"""

BROKEN = """\
name: broken
steps:
  - id: a
    agent: ghost
    depends_on: [nowhere]
  - id: b
    agent: writer
    prompt: "{{ steps.c.output }} {{ inputs.nope }}"
  - id: c
    agent: writer
    depends_on: [c]
    condition: "inputs.x.upper()"
"""


@pytest.fixture
def ws(tmp_path) -> Path:
    root = tmp_path / "ws"
    (root / ".parac" / "agents").mkdir(parents=True)
    (root / ".parac" / "agents" / "manifest.yaml").write_text(MANIFEST)
    wf = root / ".parac" / "workflows" / "definitions"
    wf.mkdir(parents=True)
    for name, text in (
        ("branches", BRANCHES),
        ("approval", APPROVAL),
        ("long", LONG),
        ("review", REVIEW),
    ):
        (wf / f"{name}.yaml").write_text(text)
    (root / "broken.yaml").write_text(BROKEN)
    return root


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e["PARACLE_HOME"] = str(tmp_path / "home")
    e["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    e["NO_COLOR"] = "1"
    return e


def paracle(*args: str, env: dict, cwd: Path, stdin=subprocess.DEVNULL):
    return subprocess.run(
        [*PARACLE, *args], env=env, cwd=cwd, capture_output=True, text=True, stdin=stdin, timeout=60
    )


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_list_gives_name_description_file_and_steps(ws, env):
    out = paracle("workflow", "list", "--json", env=env, cwd=ws)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["branches"]["steps"] == ["slow_step", "fast_1", "fast_2", "join"]
    assert rows["branches"]["description"] == "A slow step beside a fast chain"
    assert rows["branches"]["file"].endswith("definitions/branches.yaml")
    text = paracle("workflow", "list", env=env, cwd=ws)
    assert "branches" in text.stdout and "4 steps" in text.stdout


def test_validate_prints_every_error_with_file_line_and_fix(ws, env):
    out = paracle("workflow", "validate", "broken.yaml", env=env, cwd=ws)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    errors = [ln for ln in lines if ": warning:" not in ln]
    assert len(errors) == 6, out.stderr
    assert any(
        ln.startswith("broken.yaml:4: step 'a' uses unknown agent 'ghost'")
        and "fast, slow, writer" in ln
        for ln in errors
    )
    assert any(
        ln.startswith("broken.yaml:5: step 'a' depends on unknown step 'nowhere'") for ln in errors
    )
    assert any(ln.startswith("broken.yaml:11:") and "cycle: c -> c" in ln for ln in errors)
    assert any(ln.startswith("broken.yaml:8:") and "unknown input 'nope'" in ln for ln in errors)
    assert any(
        ln.startswith("broken.yaml:8:") and "'c' is not a dependency of 'b'" in ln for ln in errors
    )
    assert any(ln.startswith("broken.yaml:12:") and "bad condition" in ln for ln in errors)
    assert all(ln.endswith(")") for ln in errors)  # each ends with its fix
    assert out.stdout == ""

    good = paracle("workflow", "validate", "branches", env=env, cwd=ws)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "branches: valid, 4 steps, 0 warnings"


def test_run_follows_the_critical_path_and_prints_json(ws, env):
    out = paracle(
        "workflow",
        "run",
        "branches",
        "--json",
        "--input",
        "topic=caching",
        "--input",
        'files=["a.py", "b.py"]',
        env=env,
        cwd=ws,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "completed" and data["run_id"]
    assert data["outputs"]["files"] == ["a.py", "b.py"]
    assert data["outputs"]["note"].startswith("Simulated note")
    steps = data["steps"]
    assert list(steps) == ["slow_step", "fast_1", "fast_2", "join"]
    for s in steps.values():
        assert s["status"] == "completed" and s["attempts"] == 1
        assert len(s["started_at"].split(".")[1]) >= 6  # microseconds
    # The fast chain ran beside the slow step: no level-by-level waiting.
    assert ts(steps["fast_2"]["started_at"]) < ts(steps["slow_step"]["ended_at"])
    assert ts(steps["fast_2"]["ended_at"]) < ts(steps["slow_step"]["ended_at"])
    assert ts(steps["join"]["started_at"]) >= ts(steps["slow_step"]["ended_at"])
    # `{{ steps }}` gave `join` its ancestors' answers (the simulated model quotes its prompt).
    assert steps["join"]["output"].startswith("## Simulated answer\n\n> ## slow_step ## Simulated")
    # Not a terminal: one plain progress line per change on stderr.
    assert "completed" in out.stderr.splitlines()[-1]
    assert any(ln.startswith("✓ fast_2  completed") for ln in out.stderr.splitlines())


def test_run_prints_outputs_and_refuses_bad_inputs(ws, env):
    out = paracle("workflow", "run", "branches", "--quiet", "--input", "topic=x", env=env, cwd=ws)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("note: Simulated note") and "files: []" in out.stdout
    assert out.stderr == ""
    missing = paracle("workflow", "run", "branches", env=env, cwd=ws)
    assert missing.returncode == 2
    assert "needs input topic" in missing.stderr and "--input topic=VALUE" in missing.stderr
    invalid = paracle("workflow", "run", "broken.yaml", env=env, cwd=ws)
    assert invalid.returncode == 2 and "unknown agent 'ghost'" in invalid.stderr


def test_approval_without_a_terminal_or_flag_fails_clearly(ws, env):
    out = paracle("workflow", "run", "approval", "--json", env=env, cwd=ws)
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["status"] == "failed"
    assert data["steps"]["draft"]["status"] == "failed"
    assert "step draft needs approval: run with --approve-all or on a terminal" in out.stderr
    assert data["steps"]["publish"]["status"] == "cancelled"
    ok = paracle("workflow", "run", "approval", "--json", "--approve-all", env=env, cwd=ws)
    assert ok.returncode == 0 and json.loads(ok.stdout)["status"] == "completed"


def _run_with_terminal_stdin(ws, env, answer: bytes):
    """Run the approval workflow with a terminal on stdin and answer the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PARACLE, "workflow", "run", "approval", "--json"],
        env=env,
        cwd=ws,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"approve step draft? [y/N]" not in seen:
            assert time.monotonic() < deadline, seen
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        os.write(master, answer)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, json.loads(stdout), seen + stderr


def test_approval_prompt_on_a_terminal(ws, env):
    code, data, err = _run_with_terminal_stdin(ws, env, b"y\n")
    assert code == 0 and data["status"] == "completed"
    assert b"draft answered" in err

    code, data, err = _run_with_terminal_stdin(ws, env, b"n\ntoo long\n")
    assert code == 1
    assert data["steps"]["draft"]["status"] == "failed"
    assert b"rejected by reviewer: too long" in err


def test_ctrl_c_cancels_keeps_partial_text_and_exits_130(ws, env):
    proc = subprocess.Popen(
        [*PARACLE, "workflow", "run", "long", "--json"],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"essay  streaming" not in seen:  # its first text has arrived
            assert time.monotonic() < deadline, seen
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    data = json.loads(stdout)
    assert data["status"] == "cancelled"
    assert data["steps"]["essay"]["status"] == "cancelled"
    partial = data["steps"]["essay"]["output"]
    assert partial.startswith("## Simulated") and "Run with a real provider" not in partial
    assert data["steps"]["after"]["status"] == "cancelled"


def test_progress_is_redrawn_in_place_on_a_terminal(ws, env):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*PARACLE, "workflow", "run", "branches", "--input", "topic=x"],
        env=env,
        cwd=ws,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            screen += chunk
        stdout, _ = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    text = screen.decode()
    assert "\x1b[J" in text and "F\x1b[J" in text  # moved up and cleared: redrawn in place
    last = text.rsplit("\x1b[J", 1)[1]
    assert last.startswith("4/4 steps")
    for sid in ("slow_step", "fast_1", "fast_2", "join"):
        assert f"✓ {sid}  completed" in last
    assert stdout.decode().startswith("note: Simulated note")


def test_resume_runs_only_the_steps_a_stopped_run_did_not_finish(ws, env):
    first = paracle("workflow", "run", "review", "--json", env=env, cwd=ws)
    assert first.returncode == 1
    stopped = json.loads(first.stdout)
    assert stopped["steps"]["write"]["status"] == "completed"
    assert stopped["steps"]["check"]["status"] == "failed"

    again = paracle(
        "workflow", "resume", stopped["run_id"], "--json", "--approve-all", env=env, cwd=ws
    )
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["run_id"] == stopped["run_id"] and data["status"] == "completed"
    # The step that had completed was not run again: same answer, same end.
    assert data["steps"]["write"]["output"] == stopped["steps"]["write"]["output"]
    assert data["steps"]["write"]["ended_at"] == stopped["steps"]["write"]["ended_at"]
    assert data["steps"]["check"]["status"] == "completed"
    assert data["steps"]["publish"]["status"] == "completed"
    assert "write" not in [ln.split()[1] for ln in again.stderr.splitlines() if ln.startswith("●")]

    done = paracle("workflow", "resume", stopped["run_id"], env=env, cwd=ws)
    assert done.returncode == 2 and "already completed" in done.stderr


def test_max_concurrency_and_timeout_from_the_command_line(ws, env):
    out = paracle(
        "workflow",
        "run",
        "branches",
        "--json",
        "--max-concurrency",
        "1",
        "--input",
        "topic=x",
        env=env,
        cwd=ws,
    )
    assert out.returncode == 0, out.stderr
    spans = sorted(
        (ts(s["started_at"]), ts(s["ended_at"])) for s in json.loads(out.stdout)["steps"].values()
    )
    assert all(
        end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:], strict=False)
    )  # one at a time

    late = paracle("workflow", "run", "long", "--json", "--timeout", "0.5", env=env, cwd=ws)
    assert late.returncode == 1
    data = json.loads(late.stdout)
    assert data["status"] == "failed" and "timed out after 0.5 s" in data["error"]
    assert data["steps"]["essay"]["status"] == "cancelled"
