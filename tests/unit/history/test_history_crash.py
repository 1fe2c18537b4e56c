"""kill -9 in the middle of a stream: the run shows as interrupted with the text written so far."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paracle_engine.history import open_history

# A workflow whose first step completes and whose second streams until the process is killed.
CHILD = r"""
import asyncio
from paracle_engine.events import (
    EventBus, RunStarted, StepCompleted, StepPending, StepStarted, TextDelta,
)
from paracle_engine.history import open_history

async def main():
    bus = EventBus()
    await open_history(bus)
    run = "crash-run"
    bus.publish(RunStarted(run_id=run, kind="workflow", target="flow", step_ids=["a", "b"],
                           inputs={"topic": "x"}, source="flow.yaml"))
    bus.publish(StepPending(run_id=run, step_id="a"))
    bus.publish(StepPending(run_id=run, step_id="b", depends_on=["a"]))
    bus.publish(StepStarted(run_id=run, step_id="a", agent="bot", provider="p", model="m", prompt="go"))
    bus.publish(TextDelta(run_id=run, step_id="a", text="first step done"))
    bus.publish(StepCompleted(run_id=run, step_id="a", output="first step done", outputs={"k": 1}))
    bus.publish(StepStarted(run_id=run, step_id="b", agent="bot", provider="p", model="m", prompt="more"))
    i = 0
    while True:  # a stream that never ends: one word a millisecond
        bus.publish(TextDelta(run_id=run, step_id="b", text=f"w{i} "))
        i += 1
        await asyncio.sleep(0.001)

asyncio.run(main())
"""


def _streamed_text(db: Path) -> str:
    """Step b's text as another process sees it now ("" before the file exists)."""
    if not db.exists():
        return ""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT content FROM messages WHERE step_id = 'b' AND role = 'assistant'"
        ).fetchone()
    except sqlite3.OperationalError:  # schema not there yet
        return ""
    finally:
        conn.close()
    return row[0] if row else ""


def _start_child(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PARACLE_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", CHILD], env=env, stderr=subprocess.PIPE)


def test_kill_9_mid_stream_leaves_an_interrupted_run_with_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    child = _start_child(tmp_path)
    db = tmp_path / "history.db"
    try:
        deadline = time.monotonic() + 30
        seen = ""
        # Wait until several flushes of the running step reached the file, then kill.
        while len(seen) < 3000:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never streamed into the history"
            time.sleep(0.02)
            seen = _streamed_text(db)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    async def reopen() -> None:
        history = await open_history()  # the next start
        try:
            before = await history.store.fetchone("SELECT status FROM runs")
            assert before[0] == "running"
            assert await history.runs.mark_interrupted() == ["crash-run"]
            detail = await history.runs.get_run("crash-run")
        finally:
            await history.aclose()
        assert detail.run.status == "interrupted"
        a, b = detail.step("a"), detail.step("b")
        assert (a.status, a.output, a.outputs) == ("completed", "first step done", {"k": 1})
        assert b.status == "interrupted"
        text = b.messages[-1].content
        # Everything already seen survived, and what is there is exactly the stream's beginning.
        assert len(text) >= len(seen)
        words = text.split()
        assert words == [f"w{i}" for i in range(len(words))]
        assert text == "".join(f"{w} " for w in words)

    asyncio.run(reopen())
