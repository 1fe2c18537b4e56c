"""A workflow killed with kill -9 mid-stream is `interrupted` in history and resumable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from support.cli import cli_env, run_cli_async, start_cli


async def paracle(env, *args: str) -> tuple[int, str, str]:
    return await run_cli_async(env, "--provider", "simulated", *args)


def streaming_state(db: Path) -> tuple[str, dict[str, str], dict[str, int]] | None:
    """(run id, step statuses, streamed characters per step) once the db has them."""
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        run = con.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if run is None:
            return None
        statuses = dict(con.execute("SELECT step_id, status FROM steps WHERE run_id = ?", run))
        text = dict(
            con.execute(
                "SELECT step_id, sum(length(content)) FROM messages"
                " WHERE run_id = ? AND role = 'assistant' GROUP BY step_id",
                run,
            )
        )
        return run[0], statuses, text
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()


async def test_kill_9_mid_stream_leaves_an_interrupted_run_that_resume_finishes(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("simulated_pace = 0.03\n")
    env = cli_env(home)
    db = home / "history.db"
    proc = await start_cli(
        env,
        "--provider",
        "simulated",
        "workflow",
        "run",
        "research_report",
        "--quiet",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline:
        state = streaming_state(db)
        if state:
            _, statuses, text = state
            running = [s for s, st in statuses.items() if st == "running" and text.get(s)]
            if statuses.get("plan") == "completed" and running:
                break
        await asyncio.sleep(0.05)
    else:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"the run never reached a streaming step: {state}")
    proc.kill()  # SIGKILL: no cleanup, no final flush
    await proc.wait()
    run_id, _, streamed_before = streaming_state(db)

    code, out, err = await paracle(env, "history", "show", run_id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["status"] == "interrupted"
    steps = {s["step_id"]: s for s in shown["steps"]}
    assert steps["plan"]["status"] == "completed" and steps["plan"]["output"]
    cut = [s for s in steps.values() if s["status"] == "interrupted"]
    assert cut, "the step that was streaming is marked interrupted"
    for step in cut:
        kept = "".join(m["content"] for m in step["messages"] if m["role"] == "assistant")
        assert len(kept) >= streamed_before.get(step["step_id"], 0), "the streamed part is kept"
    assert any(m["role"] == "assistant" and m["content"] for s in cut for m in s["messages"])
    plan_started = steps["plan"]["started_at"]

    code, out, err = await paracle(env, "workflow", "resume", run_id, "--json")
    assert code == 0, err
    for step in cut:  # each step cut short is said to run again from its start
        assert f"note: step {step['step_id']} re-runs from its start (it was interrupted)" in err
    result = json.loads(out)
    assert result["run_id"] == run_id and result["status"] == "completed"

    code, out, err = await paracle(env, "history", "show", run_id, "--json")
    after = json.loads(out)
    assert after["status"] == "completed"
    steps_after = {s["step_id"]: s for s in after["steps"]}
    assert all(s["status"] in ("completed", "skipped") for s in steps_after.values())
    assert (
        steps_after["plan"]["started_at"] == plan_started and steps_after["plan"]["attempts"] == 1
    )
    plan_calls = [
        e for e in after["events"] if e["type"] == "StepStarted" and e["step_id"] == "plan"
    ]
    assert len(plan_calls) == 1, "the completed step was not sent to the provider again"
    runs = json.loads((await paracle(env, "history", "list", "--json"))[1])
    assert [r["id"] for r in runs] == [run_id], "resume wrote into the same run"
