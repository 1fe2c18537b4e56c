"""The writer's work per step must not grow with the size of the run (no timing: SQLite's own counts).

Counted on the writer's connection: SQL statements (trace callback), virtual-machine instructions
(progress handler, one tick per 100) and trips to the connection's thread. A 2,000-step run
must cost per step what a 200-step run costs; a count of the run's steps on every insert, or a
scan of its messages per step, makes the per-step instructions grow with the run (7.5 times
here), and a trip per statement makes a dozen trips per step.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from paracle_engine.events import (
    EventBus,
    RunCompleted,
    RunStarted,
    StepCompleted,
    StepPending,
    StepStarted,
    TextDelta,
    UsageReported,
)
from paracle_engine.history import HistoryStore, HistoryWriter
from paracle_engine.models import Usage

TICK = 100  # VM instructions per progress-handler call


@dataclasses.dataclass
class Cost:
    steps: int
    statements: int = 0
    ticks: int = 0
    hops: int = 0
    flushes: int = 0

    @property
    def statements_per_step(self) -> float:
        return self.statements / self.steps

    @property
    def ticks_per_step(self) -> float:
        return self.ticks / self.steps


async def writer_connection(store: HistoryStore) -> aiosqlite.Connection:
    """The store's write connection, as its public `transaction()` hands it out."""
    async with store.transaction() as db:
        return db


async def record_run(path: Path, steps: int, monkeypatch: pytest.MonkeyPatch) -> Cost:
    """Write one workflow run of `steps` steps, 50 steps a batch, counting the writer's work."""
    store = await HistoryStore.open(path)
    bus = EventBus()
    writer = await HistoryWriter(store, bus, secrets=[]).start()
    cost = Cost(steps)
    db = await writer_connection(store)

    def on_statement(sql: str) -> None:
        if not sql.startswith("--"):  # trigger bodies are reported as comments
            cost.statements += 1

    def on_progress() -> int:
        cost.ticks += 1
        return 0

    real_execute = db._execute

    async def counted_execute(fn: Any, *args: Any, **kwargs: Any) -> Any:
        cost.hops += 1
        return await real_execute(fn, *args, **kwargs)

    try:
        run = f"run-{steps}"
        ids = [f"s{i}" for i in range(steps)]
        bus.publish(RunStarted(run_id=run, kind="workflow", target="flow", step_ids=ids))
        for sid in ids:
            bus.publish(StepPending(run_id=run, step_id=sid, agent="bot"))
        await writer.flush()
        await db.set_trace_callback(on_statement)
        await db.set_progress_handler(on_progress, TICK)
        monkeypatch.setattr(db, "_execute", counted_execute)
        flushes_before = writer.flushes
        for start in range(0, steps, 50):
            for sid in ids[start : start + 50]:
                bus.publish(
                    StepStarted(
                        run_id=run, step_id=sid, agent="bot", provider="p", model="m", prompt="go"
                    )
                )
                bus.publish(TextDelta(run_id=run, step_id=sid, text="ok"))
                bus.publish(UsageReported(run_id=run, step_id=sid, usage=Usage(1, 1)))
                bus.publish(StepCompleted(run_id=run, step_id=sid, output="ok"))
            await writer.flush()
        bus.publish(RunCompleted(run_id=run, output="ok", usage=Usage(steps, steps)))
        await writer.flush()
        cost.flushes = writer.flushes - flushes_before
        monkeypatch.undo()
        await db.set_progress_handler(None, TICK)
        await db.set_trace_callback(None)
        await writer.aclose()
        done = await store.fetchone(
            "SELECT count(*) FROM steps WHERE run_id = ? AND status = 'completed'", (run,)
        )
        assert done[0] == steps
        seqs = [r[0] for r in await store.fetchall("SELECT seq FROM steps ORDER BY seq")]
        assert seqs == list(range(steps))
        run_row = await store.fetchone("SELECT input_tokens, output_tokens FROM runs")
        assert tuple(run_row) == (steps, steps)
    finally:
        await writer.aclose()
        await store.aclose()
    return cost


async def test_per_step_work_does_not_grow_with_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = await record_run(tmp_path / "small.db", 200, monkeypatch)
    large = await record_run(tmp_path / "large.db", 2000, monkeypatch)
    # Statements per step (trigger bodies included): the same for both sizes.
    assert large.statements_per_step <= small.statements_per_step + 0.1, (small, large)
    # Instructions per step: within a margin for deeper B-trees, never proportional to the run.
    assert large.ticks_per_step <= 1.5 * small.ticks_per_step, (small, large)
    # One trip to the connection's thread per batch, not one per statement.
    assert large.hops <= large.flushes + 1, large
    assert small.hops <= small.flushes + 1, small
