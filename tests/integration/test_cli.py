"""The `paracle` command line through real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import ROOT, cli_env, run_cli


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path / "home")


paracle = run_cli


def demo_agent(env) -> str:
    out = paracle("agents", "--json", env=env)
    return json.loads(out.stdout)[0]["id"]


def test_version(env):
    out = paracle("--version", env=env)
    assert out.returncode == 0
    assert out.stdout.startswith("paracle ")


def test_version_and_agents_import_no_sdk_and_no_textual(env):
    code = (
        "import sys; from paracle_tui.cli import main; rc = main(['agents']);"
        "print('HEAVY:' + ','.join(m for m in ('anthropic', 'textual', 'httpx', 'asyncio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT / "tests", capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("HEAVY:")


def test_agents_lists_the_demo_with_inheritance(env):
    out = paracle("agents", "--json", env=env)
    assert out.returncode == 0, out.stderr
    agents = json.loads(out.stdout)
    assert len(agents) >= 3
    children = [a for a in agents if a["parent"]]
    assert children, "the demo has an agent inheriting from another"
    child = children[0]
    parent = next(a for a in agents if a["id"] == child["parent"])
    assert set(parent["skills"]) <= set(child["skills"])
    human = paracle("agents", env=env)
    assert child["id"] in human.stdout and f"inherits {child['parent']}" in human.stdout


def test_run_with_the_simulated_provider(env):
    agent = demo_agent(env)
    out = paracle("run", agent, "--task", "hi", "--provider", "simulated", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert "simulated" in out.stderr


def test_run_json_reports_usage_and_run_id(env):
    agent = demo_agent(env)
    out = paracle("--provider", "simulated", "run", agent, "--task", "hi", "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"agent", "provider", "model", "output", "usage", "run_id"}
    assert data["provider"] == "simulated" and data["agent"] == agent
    assert data["usage"]["output_tokens"] > 0 and data["usage"]["input_tokens"] > 0


def test_stream_prints_the_same_answer_as_run(env):
    agent = demo_agent(env)
    ran = paracle("run", agent, "--task", "hello", "--provider", "simulated", env=env)
    streamed = paracle("stream", agent, "--task", "hello", "--provider", "simulated", env=env)
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == ran.stdout


def test_unknown_agent_is_one_line_and_exit_2(env):
    out = paracle("run", "nobody", "--task", "hi", "--provider", "simulated", env=env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown agent 'nobody'" in lines[0]
    assert "Traceback" not in out.stderr


def test_missing_anthropic_key_says_how_to_fix_it(env):
    agent = demo_agent(env)
    out = paracle("run", agent, "--task", "hi", env=env)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line
    assert (
        "paracle keys set anthropic" in line
        and "ANTHROPIC_API_KEY" in line
        and "--provider simulated" in line
    )


def test_debug_shows_the_traceback(env):
    out = paracle("--debug", "run", "nobody", "--task", "hi", "--provider", "simulated", env=env)
    assert out.returncode == 2
    assert "Traceback" in out.stderr


def test_bad_arguments_exit_2(env):
    out = paracle("run", env=env)
    assert out.returncode == 2


def test_init_writes_a_workspace_that_then_opens(env, tmp_path):
    target = tmp_path / "proj"
    out = paracle("init", str(target), env=env)
    assert out.returncode == 0, out.stderr
    assert (target / ".parac" / "agents" / "manifest.yaml").is_file()
    again = paracle("init", str(target), env=env)
    assert again.returncode == 2 and ".parac" in again.stderr
    listed = paracle("agents", env=env, cwd=target)
    assert str(target) in listed.stderr


def test_broken_manifest_is_one_line_with_file_and_line(env, tmp_path):
    ws = tmp_path / "broken" / ".parac" / "agents"
    ws.mkdir(parents=True)
    (ws / "manifest.yaml").write_text("agents:\n  - id: a\n    name: [unclosed\n")
    out = paracle("--workspace", str(tmp_path / "broken"), "agents", env=env)
    assert out.returncode == 2
    assert "manifest.yaml:" in out.stderr and "Traceback" not in out.stderr


def test_a_history_file_from_a_newer_paracle_is_left_alone_and_the_run_goes_on(env):
    import sqlite3

    home = Path(env["PARACLE_HOME"])
    home.mkdir(parents=True)
    db = home / "history.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 999")
    con.close()
    before = db.read_bytes()
    agent = demo_agent(env)
    out = paracle("run", agent, "--task", "hi", "--provider", "simulated", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    assert "history is off" in out.stderr
    assert db.read_bytes() == before
