"""`paracle history ...`: in-process for speed, and once end to end through real subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paracle_engine.events import (
    EventBus,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepCompleted,
    StepStarted,
    TextDelta,
    UsageReported,
)
from paracle_engine.history import open_history
from paracle_engine.models import Usage
from paracle_tui.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def seed(runs: list[tuple[str, str, str]]) -> None:
    """Record agent runs (id, answer, status) through the real writer."""

    async def record() -> None:
        bus = EventBus()
        history = await open_history(bus)
        for i, (run_id, answer, status) in enumerate(runs):
            ts = 1_700_000_000.0 + i * 60
            bus.publish(
                RunStarted(run_id=run_id, kind="agent", target="scribe", task="tell me", ts=ts)
            )
            bus.publish(
                StepStarted(
                    run_id=run_id,
                    step_id="scribe",
                    agent="scribe",
                    provider="simulated",
                    model="sim-1",
                    system_prompt="You are a scribe.",
                    prompt="tell me",
                    ts=ts,
                )
            )
            bus.publish(TextDelta(run_id=run_id, step_id="scribe", text=answer))
            bus.publish(
                UsageReported(
                    run_id=run_id,
                    step_id="scribe",
                    usage=Usage(7, 11),
                    provider="simulated",
                    model="sim-1",
                )
            )
            if status == "completed":
                bus.publish(
                    StepCompleted(run_id=run_id, step_id="scribe", output=answer, ts=ts + 2)
                )
                bus.publish(RunCompleted(run_id=run_id, output=answer, ts=ts + 2))
            else:
                bus.publish(RunFailed(run_id=run_id, error="the provider refused", ts=ts + 2))
        await history.aclose()
        await bus.aclose()

    asyncio.run(record())


@pytest.fixture
def runs(home: Path) -> list[str]:
    seed(
        [
            ("20260301-090000-aaaaaa", "Herons wade in the shallows.", "completed"),
            ("20260301-091500-bbbbbb", "A foo-bar placeholder [bold red]not markup[/]", "failed"),
            ("20260302-100000-cccccc", "Cormorants dry their wings.", "completed"),
        ]
    )
    return ["20260301-090000-aaaaaa", "20260301-091500-bbbbbb", "20260302-100000-cccccc"]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_json_and_table(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "list", "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["id"] for r in data] == list(reversed(runs))
    assert data[0]["usage"] == {"input_tokens": 7, "output_tokens": 11}
    code, out, _ = run_cli(capsys, "list", "--status", "failed", "--json")
    assert [r["id"] for r in json.loads(out)] == [runs[1]]
    code, out, _ = run_cli(capsys, "list", "--limit", "2")
    assert code == 0
    assert runs[2] in out and runs[1] in out and runs[0] not in out
    assert "failed" in out and "2 of 3 runs" in out


def test_list_on_a_fresh_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "list")
    assert (code, out) == (0, "")
    assert "no runs recorded yet" in err


def test_show_every_step_and_message_with_usage(
    runs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "show", "20260301-0915")
    assert code == 0
    assert runs[1] in out and "failed" in out and "the provider refused" in out
    assert "You are a scribe." in out and "tell me" in out
    assert "[bold red]not markup[/]" in out  # model text is printed, never interpreted
    assert "7 in" in out and "11 out" in out
    code, out, _ = run_cli(capsys, "show", runs[0], "--json")
    data = json.loads(out)
    messages = data["steps"][0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[2]["content"] == "Herons wade in the shallows."
    assert data["usage_calls"][0]["usage"] == {"input_tokens": 7, "output_tokens": 11}
    assert [e["type"] for e in data["events"]][:2] == ["RunStarted", "StepStarted"]


def test_unknown_or_ambiguous_run_ids_exit_2(
    runs: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "show", "nope")
    assert code == 2 and out == ""
    assert err.startswith("error: no run with id 'nope'") and "paracle history list" in err
    code, _, err = run_cli(capsys, "export", "20260301", "--format", "md")
    assert code == 2 and "ambiguous" in err


def test_search(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "search", "cormorants", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [h["run_id"] for h in hits] == [runs[2]]
    assert "«Cormorants»" in hits[0]["snippet"]
    code, out, _ = run_cli(capsys, "search", "foo-bar")
    assert code == 0 and runs[1] in out
    for odd in ['"', "NEAR(", "a OR", "*"]:
        code, out, err = run_cli(capsys, "search", odd, "--json")
        assert code == 0, err
        assert isinstance(json.loads(out), list)
    code, out, err = run_cli(capsys, "search", "pelicans")
    assert code == 0 and "no run matches" in err


def test_export_to_a_file_and_to_stdout(
    runs: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "run.md"
    code, _, err = run_cli(capsys, "export", "20260302", "--format", "md", "-o", str(target))
    assert code == 0 and "wrote" in err
    md = target.read_text()
    assert md.startswith(f"# agent run {runs[2]}: scribe")
    assert "Cormorants dry their wings." in md
    code, out, _ = run_cli(capsys, "export", "20260302", "--format", "json")
    assert json.loads(out)["id"] == runs[2]


def test_delete(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "delete", "20260301-09000")
    assert (code, out.strip()) == (0, f"deleted {runs[0]}")
    code, _, _ = run_cli(capsys, "show", runs[0])
    assert code == 2
    code, out, _ = run_cli(capsys, "list", "--json")
    assert [r["id"] for r in json.loads(out)] == [runs[2], runs[1]]


def test_history_without_an_action_is_a_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["history"])
    assert info.value.code == 2


def test_a_run_through_the_real_cli_is_found_by_a_word_of_its_answer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        PARACLE_HOME=str(tmp_path / "home"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
    )

    def paracle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "paracle_tui.cli", *args],
            env=env,
            cwd=ROOT / "tests",
            capture_output=True,
            text=True,
            timeout=60,
        )

    agents = paracle("agents", "--json")
    assert agents.returncode == 0, agents.stderr
    agent = json.loads(agents.stdout)[0]["id"]
    ran = paracle("run", agent, "--task", "Describe a heron", "--provider", "simulated", "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    word = max(re.findall(r"[A-Za-z]{5,}", result["output"]), key=len)
    found = paracle("history", "search", word, "--json")
    assert found.returncode == 0, found.stderr
    assert result["run_id"] in [h["run_id"] for h in json.loads(found.stdout)]
    shown = paracle("history", "show", result["run_id"], "--json")
    detail = json.loads(shown.stdout)
    assert detail["status"] == "completed"
    assistant = [m for m in detail["steps"][0]["messages"] if m["role"] == "assistant"]
    assert assistant[0]["content"] == result["output"]
