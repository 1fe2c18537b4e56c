"""The batched writer: what it records from events, when it writes, and how it survives failures."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from paracle_engine.events import (
    EventBus,
    HistoryStatus,
    RunCompleted,
    RunStarted,
    StepCompleted,
    StepFailed,
    StepPending,
    StepRetrying,
    StepStarted,
    TextDelta,
    UsageReported,
)
from paracle_engine.history import History, HistoryStore, HistoryWriter, open_history
from paracle_engine.models import Usage


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    bus = EventBus()
    yield bus
    await bus.aclose()


@pytest.fixture
async def history(bus: EventBus) -> AsyncIterator[History]:
    h = await open_history(bus)
    yield h
    await h.aclose()


async def poll(check: Callable[[], Awaitable[Any]], what: str, within: float = 5.0) -> Any:
    """Wait until `check()` returns something truthy, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def scalar(store: HistoryStore, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = await store.fetchone(sql, params)
    return None if row is None else row[0]


def start_agent_run(bus: EventBus, run_id: str = "run-1", step: str = "writer") -> None:
    bus.publish(RunStarted(run_id=run_id, kind="agent", target=step, task="write", step_ids=[step]))
    bus.publish(
        StepStarted(
            run_id=run_id,
            step_id=step,
            agent=step,
            provider="simulated",
            model="sim-1",
            system_prompt="You write.",
            prompt="write",
        )
    )


async def test_deltas_become_one_assistant_message_not_a_row_per_token(
    bus: EventBus, history: History
) -> None:
    start_agent_run(bus)
    tokens = [f"word{i} " for i in range(2000)]
    for i, token in enumerate(tokens):
        bus.publish(TextDelta(run_id="run-1", step_id="writer", text=token))
        if i % 250 == 0:
            await asyncio.sleep(0.02)  # the stream's own pace, so several flushes happen
    bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="".join(tokens)))
    bus.publish(RunCompleted(run_id="run-1", output="".join(tokens)))
    await history.writer.aclose()
    store = history.store
    rows = await store.fetchall(
        "SELECT role, content FROM messages WHERE run_id = 'run-1' ORDER BY id"
    )
    assert [r["role"] for r in rows] == ["system", "user", "assistant"]
    assert rows[2]["content"] == "".join(tokens)
    assert history.writer.flushes < 100  # batches, not 2000 writes
    assert await scalar(store, "SELECT status FROM runs WHERE id = 'run-1'") == "completed"
    # Deltas are not events rows either.
    assert await scalar(store, "SELECT count(*) FROM events WHERE type = 'TextDelta'") == 0


async def test_text_is_written_while_the_step_still_streams(
    bus: EventBus, history: History
) -> None:
    start_agent_run(bus)
    bus.publish(TextDelta(run_id="run-1", step_id="writer", text="partial answer"))

    async def stored() -> Any:
        return await scalar(
            history.store,
            "SELECT content FROM messages WHERE role = 'assistant' AND run_id = 'run-1'",
        )

    assert await poll(stored, "the streamed text to reach the file") == "partial answer"
    assert await scalar(history.store, "SELECT status FROM steps") == "running"


async def test_status_changes_are_written_at_once_and_text_waits_for_the_interval(
    bus: EventBus,
) -> None:
    # With a one-minute interval, only a status change can make the writer write.
    h = await open_history(bus, interval=60.0)
    try:
        start_agent_run(bus)
        ran = await poll(
            lambda: scalar(h.store, "SELECT status FROM steps WHERE step_id = 'writer'"),
            "StepStarted to be written",
        )
        assert ran == "running"
        bus.publish(TextDelta(run_id="run-1", step_id="writer", text="held back"))
        await asyncio.sleep(0.15)  # longer than the default interval: still nothing written
        assert await scalar(h.store, "SELECT count(*) FROM messages WHERE role = 'assistant'") == 0
        bus.publish(UsageReported(run_id="run-1", step_id="writer", usage=Usage(3, 4)))
        text = await poll(
            lambda: scalar(h.store, "SELECT content FROM messages WHERE role = 'assistant'"),
            "the text to be written with the status change",
        )
        assert text == "held back"
    finally:
        await h.aclose()


async def test_each_attempt_of_a_retried_step_keeps_its_own_text(
    bus: EventBus, history: History
) -> None:
    bus.publish(RunStarted(run_id="w", kind="workflow", target="flow", step_ids=["a"]))
    bus.publish(StepPending(run_id="w", step_id="a", agent="bot"))
    for attempt, text in ((1, "first try"), (2, "second try")):
        bus.publish(
            StepStarted(
                run_id="w",
                step_id="a",
                agent="bot",
                provider="p",
                model="m",
                attempt=attempt,
                prompt=f"prompt {attempt}",
            )
        )
        for word in text.split(" "):
            bus.publish(TextDelta(run_id="w", step_id="a", text=word + " "))
        if attempt == 1:
            bus.publish(
                StepRetrying(
                    run_id="w", step_id="a", attempt=1, max_attempts=2, delay=0, error="bad"
                )
            )
    bus.publish(StepCompleted(run_id="w", step_id="a", output="second try", attempts=2))
    await history.writer.aclose()
    rows = await history.store.fetchall(
        "SELECT attempt, role, content FROM messages WHERE run_id = 'w' ORDER BY id"
    )
    assert [(r["attempt"], r["role"], r["content"]) for r in rows] == [
        (1, "user", "prompt 1"),
        (1, "assistant", "first try "),
        (2, "user", "prompt 2"),
        (2, "assistant", "second try "),
    ]
    step = await history.store.fetchone("SELECT status, attempts FROM steps")
    assert (step["status"], step["attempts"]) == ("completed", 2)


async def test_a_step_answer_without_streamed_text_is_stored_as_its_message(
    bus: EventBus, history: History
) -> None:
    start_agent_run(bus)
    bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="whole answer"))
    bus.publish(StepFailed(run_id="run-2", step_id="x", error="boom", partial="half an"))
    await history.writer.aclose()
    rows = await history.store.fetchall(
        "SELECT run_id, content FROM messages WHERE role = 'assistant' ORDER BY id"
    )
    assert [(r["run_id"], r["content"]) for r in rows] == [
        ("run-1", "whole answer"),
        ("run-2", "half an"),
    ]


async def test_usage_per_call_and_totals(bus: EventBus, history: History) -> None:
    start_agent_run(bus)
    bus.publish(
        UsageReported(run_id="run-1", step_id="writer", usage=Usage(10, 5), provider="p", model="m")
    )
    bus.publish(
        UsageReported(run_id="run-1", step_id="writer", usage=Usage(1, 2), provider="p", model="m")
    )
    # Final totals repeat what the calls said; they must not be counted twice.
    bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="x", usage=Usage(11, 7)))
    bus.publish(RunCompleted(run_id="run-1", output="x", usage=Usage(11, 7)))
    # A run whose provider reported only totals.
    start_agent_run(bus, run_id="run-2")
    bus.publish(StepCompleted(run_id="run-2", step_id="writer", output="y", usage=Usage(8, 9)))
    bus.publish(RunCompleted(run_id="run-2", output="y", usage=Usage(8, 9)))
    await history.writer.aclose()
    store = history.store
    assert await scalar(store, "SELECT count(*) FROM usage WHERE run_id = 'run-1'") == 2
    for table, key in (("runs", "id"), ("steps", "run_id")):
        row = await store.fetchone(
            f"SELECT input_tokens, output_tokens FROM {table} WHERE {key} = 'run-1'"
        )
        assert tuple(row) == (11, 7), table
        row = await store.fetchone(
            f"SELECT input_tokens, output_tokens FROM {table} WHERE {key} = 'run-2'"
        )
        assert tuple(row) == (8, 9), table


async def test_a_resumed_run_updates_its_row(bus: EventBus, history: History) -> None:
    bus.publish(RunStarted(run_id="w", kind="workflow", target="flow", ts=100.0, source="f.yaml"))
    bus.publish(StepPending(run_id="w", step_id="a"))
    bus.publish(StepCompleted(run_id="w", step_id="a", output="done"))
    bus.publish(StepPending(run_id="w", step_id="b", depends_on=["a"]))
    await history.writer.flush()
    bus.publish(RunStarted(run_id="w", kind="workflow", target="flow", ts=200.0, resumed=True))
    bus.publish(StepPending(run_id="w", step_id="a"))  # announced again; keeps its result
    bus.publish(StepCompleted(run_id="w", step_id="b", output="also"))
    bus.publish(RunCompleted(run_id="w", output="also"))
    await history.writer.aclose()
    runs = await history.store.fetchall("SELECT * FROM runs")
    assert len(runs) == 1
    run = runs[0]
    assert (run["status"], run["started_at"], run["resumed_at"], run["resume_count"]) == (
        "completed",
        100.0,
        200.0,
        1,
    )
    assert run["source"] == "f.yaml"
    steps = await history.store.fetchall("SELECT step_id, status FROM steps ORDER BY seq")
    assert [(s["step_id"], s["status"]) for s in steps] == [("a", "completed"), ("b", "completed")]


async def test_events_of_a_run_whose_start_was_missed_still_land(
    bus: EventBus, history: History
) -> None:
    bus.publish(TextDelta(run_id="late", step_id="s", text="hello"))
    bus.publish(StepCompleted(run_id="late", step_id="s", output="hello"))
    await history.writer.aclose()
    assert (
        await scalar(history.store, "SELECT status FROM steps WHERE run_id = 'late'") == "completed"
    )
    assert (
        await scalar(history.store, "SELECT content FROM messages WHERE run_id = 'late'") == "hello"
    )


async def test_events_table_keeps_the_timeline_without_bulky_text(
    bus: EventBus, history: History
) -> None:
    start_agent_run(bus)
    bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="long answer " * 100))
    await history.writer.aclose()
    rows = await history.store.fetchall("SELECT type, data FROM events ORDER BY id")
    assert [r["type"] for r in rows] == ["RunStarted", "StepStarted", "StepCompleted"]
    assert "long answer" not in rows[2]["data"]


# --------------------------------------------------------------------------- failures


class StatusLog:
    def __init__(self, bus: EventBus) -> None:
        self.items: list[HistoryStatus] = []
        self.changed = asyncio.Event()
        bus.subscribe(self._on, HistoryStatus)

    def _on(self, event: Any) -> None:
        self.items.append(event)
        self.changed.set()

    async def wait_for(self, ok: bool) -> HistoryStatus:
        async def seen() -> Any:
            return next((e for e in self.items if e.ok is ok), None)

        return await poll(seen, f"HistoryStatus(ok={ok})")


async def test_a_locked_file_keeps_the_data_and_writes_it_when_unlocked(
    bus: EventBus, home: Path
) -> None:
    store = await HistoryStore.open(busy_timeout=0.05)
    writer = await HistoryWriter(store, bus, max_backoff=0.2).start()
    statuses = StatusLog(bus)
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        start_agent_run(bus)
        for i in range(50):
            bus.publish(TextDelta(run_id="run-1", step_id="writer", text=f"t{i} "))
        failed = await statuses.wait_for(False)
        assert failed.run_id == "" and "locked" in (failed.error or "")
        assert writer.failing
        bus.publish(TextDelta(run_id="run-1", step_id="writer", text="more"))
        bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="x"))
        blocker.execute("COMMIT")
        await statuses.wait_for(True)
        await writer.aclose()
        text = await scalar(store, "SELECT content FROM messages WHERE role = 'assistant'")
        assert text == "".join(f"t{i} " for i in range(50)) + "more"
        assert await scalar(store, "SELECT status FROM steps") == "completed"
        assert writer.failing is None
    finally:
        blocker.close()
        await writer.aclose()
        await store.aclose()


async def test_a_full_disk_keeps_the_data_and_writes_it_when_space_returns(
    bus: EventBus, home: Path
) -> None:
    store = await HistoryStore.open()
    writer = await HistoryWriter(store, bus, max_backoff=0.2).start()
    statuses = StatusLog(bus)
    try:
        start_agent_run(bus)
        await writer.flush()
        pages = await scalar(store, "PRAGMA page_count")
        # The file may not grow by one page: the next big write fails as on a full disk.
        await store.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
        big = "x" * 200_000
        bus.publish(TextDelta(run_id="run-1", step_id="writer", text=big))
        failed = await statuses.wait_for(False)
        assert "full" in (failed.error or "")
        bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="final"))
        await store.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
        await statuses.wait_for(True)
        await writer.aclose()
        assert (
            await scalar(store, "SELECT length(content) FROM messages WHERE role = 'assistant'")
            == 200_000
        )
        assert await scalar(store, "SELECT status FROM steps") == "completed"
    finally:
        await writer.aclose()
        await store.aclose()


async def test_closing_while_the_store_stays_unwritable_says_so(bus: EventBus) -> None:
    from paracle_engine.errors import HistoryError

    store = await HistoryStore.open(busy_timeout=0.02)
    writer = await HistoryWriter(store, bus, max_backoff=0.05, close_timeout=0.5).start()
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        start_agent_run(bus)
        with pytest.raises(HistoryError, match="were not saved"):
            await writer.aclose()
    finally:
        blocker.close()
        await store.aclose()


async def test_giving_up_counts_a_batch_that_was_being_written(bus: EventBus) -> None:
    from paracle_engine.errors import HistoryError

    # Each attempt waits longer on the lock than the close limit: the writer gives up while
    # its batch is out, and that batch must be counted as not saved.
    store = await HistoryStore.open(busy_timeout=0.5)
    writer = await HistoryWriter(store, bus, max_backoff=0.05, close_timeout=0.2).start()
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        start_agent_run(bus)
        bus.publish(TextDelta(run_id="run-1", step_id="writer", text="one "))
        bus.publish(TextDelta(run_id="run-1", step_id="other", text="two"))
        with pytest.raises(HistoryError) as caught:
            await writer.aclose()
        assert "2 events and the text of 2 steps were not saved" in str(caught.value)
        assert "locked" in str(caught.value)
    finally:
        blocker.close()
        await store.aclose()


async def test_closing_waits_for_a_long_backlog_while_writes_succeed(bus: EventBus) -> None:
    # A slow disk: every commit takes 50 ms, far more work in all than the close limit.
    store = await HistoryStore.open(busy_timeout=0.02)
    writer = await HistoryWriter(store, bus, close_timeout=0.2, batch_limit=10).start()

    def slow_commit(sql: str) -> None:
        if sql == "COMMIT":
            time.sleep(0.05)

    await store.write(lambda conn: conn.set_trace_callback(slow_commit))
    try:
        bus.publish(RunStarted(run_id="big", kind="workflow", target="flow"))
        for i in range(300):
            bus.publish(StepPending(run_id="big", step_id=f"s{i}"))
        await writer.aclose()
        assert await scalar(store, "SELECT count(*) FROM steps") == 300
        assert writer.flushes >= 30
    finally:
        await store.write(lambda conn: conn.set_trace_callback(None))
        await store.aclose()


async def test_a_write_that_never_ends_is_reported_as_unsure(bus: EventBus) -> None:
    from paracle_engine.errors import HistoryError

    store = await HistoryStore.open(busy_timeout=0.01)
    writer = await HistoryWriter(store, bus, close_timeout=0.1).start()
    armed = threading.Event()
    hung = threading.Event()
    release = threading.Event()

    def hang_at_commit(sql: str) -> None:
        # A disk that stops answering, until the test lets it go (armed once the callback
        # is in, so the write that installs it still commits).
        if sql == "COMMIT" and armed.is_set():
            hung.set()
            release.wait(30)

    await store.write(lambda conn: conn.set_trace_callback(hang_at_commit))
    armed.set()
    try:
        start_agent_run(bus)
        await asyncio.to_thread(hung.wait, 5)
        bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="x"))
        with pytest.raises(HistoryError) as caught:
            await writer.aclose()
        message = str(caught.value)
        assert "no write finished in 0.1 s" in message
        assert "1 event was not saved" in message
        assert "2 more being written then may not have been saved" in message
    finally:
        armed.clear()
        release.set()
        await store.write(lambda conn: conn.set_trace_callback(None))
        await store.aclose()


# --------------------------------------------------------------------------- interrupted runs


async def test_mark_interrupted_only_touches_runs_of_dead_processes(bus: EventBus) -> None:
    store = await HistoryStore.open()
    try:
        async with store.transaction() as db:
            for run_id, owner in (("dead", "nohost-never:1:1"), ("gone", None)):
                await db.execute(
                    "INSERT INTO runs(id, kind, status, started_at, owner) VALUES (?, 'workflow', 'running', 1, ?)",
                    (run_id, owner),
                )
            await db.executemany(
                "INSERT INTO steps(run_id, step_id, status) VALUES ('gone', ?, ?)",
                [
                    ("a", "completed"),
                    ("b", "running"),
                    ("c", "pending"),
                    ("d", "awaiting_approval"),
                ],
            )
        history_bus_run = EventBus()
        writer = await HistoryWriter(store, history_bus_run).start()
        start_agent_run(history_bus_run, run_id="mine")  # this process: alive
        await writer.flush()
        marked = await writer.mark_interrupted()
        await writer.aclose()
        # Another machine's runs cannot be checked and stay as they are.
        assert marked == ["gone"]
        rows = await store.fetchall("SELECT id, status FROM runs ORDER BY id")
        assert {r["id"]: r["status"] for r in rows} == {
            "dead": "running",
            "gone": "interrupted",
            "mine": "running",
        }
        steps = await store.fetchall("SELECT step_id, status FROM steps WHERE run_id = 'gone'")
        assert {s["step_id"]: s["status"] for s in steps} == {
            "a": "completed",
            "b": "interrupted",
            "c": "pending",
            "d": "interrupted",
        }
    finally:
        await store.aclose()


async def test_one_bad_record_does_not_stop_the_others(bus: EventBus, history: History) -> None:
    start_agent_run(bus)
    bus.publish(TextDelta(run_id="bad", step_id="s", text=b"not text"))  # type: ignore[arg-type]
    bus.publish(TextDelta(run_id="run-1", step_id="writer", text="fine"))
    await history.writer.flush()
    bus.publish(StepCompleted(run_id="run-1", step_id="writer", output="fine"))
    await history.writer.aclose()
    assert (
        await scalar(history.store, "SELECT content FROM messages WHERE role = 'assistant'")
        == "fine"
    )
    assert (
        await scalar(history.store, "SELECT status FROM steps WHERE run_id = 'run-1'")
        == "completed"
    )
