"""Each history fault is named for what it is, from the real SQLite errors that raise it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paracle_engine.errors import HistoryError
from paracle_engine.events import EventBus, RunStarted, StepStarted, TextDelta
from paracle_engine.history import History, HistoryStore, HistoryWriter
from paracle_engine.history.check import check_history
from paracle_engine.history.faults import Fault, classify, history_error


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    b = EventBus()
    yield b
    await b.aclose()


async def a_history(path: Path) -> None:
    store = await HistoryStore.open(path)
    await store.aclose()


def write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def sqlite_error(path: Path, *statements: str, uri: bool = False) -> sqlite3.Error:
    conn = sqlite3.connect(path, uri=uri, isolation_level=None)
    try:
        for sql in statements:
            conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("SQLite accepted every statement")


def test_real_sqlite_errors_are_classified(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    sqlite3.connect(db).execute("CREATE TABLE t(x)").connection.commit()
    # The file may not grow: SQLite answers SQLITE_FULL, as on a full disk.
    full = sqlite_error(
        db, "PRAGMA max_page_count = 2", "INSERT INTO t VALUES (randomblob(100000))"
    )
    assert classify(full, db) is Fault.FULL
    message = history_error(full, db, "write to").one_line()
    assert "the disk is full" in message and "move" not in message

    read_only = sqlite_error(f"{db.as_uri()}?mode=ro", "INSERT INTO t VALUES (1)", uri=True)  # type: ignore[arg-type]
    assert classify(read_only, db) is Fault.READ_ONLY

    noise = tmp_path / "noise.db"
    noise.write_bytes(os.urandom(8192))
    not_a_db = sqlite_error(noise, "PRAGMA user_version")
    assert classify(not_a_db, noise) is Fault.CORRUPT
    assert "move the file away" in history_error(not_a_db, noise, "open").one_line()

    assert classify(OSError(28, "No space left on device"), db) is Fault.FULL
    assert classify(OSError(30, "Read-only file system"), db) is Fault.READ_ONLY
    assert classify(OSError(13, "Permission denied"), db) is Fault.DENIED


async def test_a_locked_file_is_called_locked_not_foreign(home: Path) -> None:
    path = home / "history.db"
    await a_history(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError) as caught:
            await HistoryStore.open(path, busy_timeout=0.05)
    finally:
        blocker.close()
    assert caught.value.fault is Fault.BUSY
    assert "locked" in caught.value.one_line()
    assert "not a Paracle history" not in caught.value.one_line()


async def test_a_locked_file_can_still_be_read(home: Path) -> None:
    path = home / "history.db"
    await a_history(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        store = await HistoryStore.open(path, busy_timeout=0.05, read_only_ok=True)
        try:
            assert store.read_only and "locked" in store.read_only
            assert (await store.fetchone("SELECT count(*) FROM runs"))[0] == 0  # type: ignore[index]
            with pytest.raises(sqlite3.OperationalError):
                await store.write(lambda conn: conn.execute("DELETE FROM runs"))
        finally:
            await store.aclose()
    finally:
        blocker.close()


async def test_random_bytes_are_not_a_history_and_are_left_alone(home: Path) -> None:
    path = home / "history.db"
    noise = os.urandom(16384)
    write_file(path, noise)
    for read_only_ok in (False, True):
        with pytest.raises(HistoryError) as caught:
            await HistoryStore.open(path, read_only_ok=read_only_ok)
        assert caught.value.fault is Fault.CORRUPT
        assert "is not a Paracle history database" in caught.value.one_line()
        assert "move the file away" in caught.value.one_line()
    assert path.read_bytes() == noise


async def test_closing_on_a_full_disk_gives_up_soon_and_says_what_was_lost(
    bus: EventBus,
) -> None:
    store = await HistoryStore.open()
    # A lock may be released by its holder, worth the full wait; a full disk is not.
    writer = await HistoryWriter(store, bus, max_backoff=0.05, close_timeout=30.0).start()
    try:
        bus.publish(RunStarted(run_id="r", kind="agent", target="writer", task="t"))
        await writer.flush()
        pages = (await store.fetchone("PRAGMA page_count"))[0]  # type: ignore[index]
        # The writer's connection may not grow the file by one page: as on a full disk.
        await store.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
        bus.publish(
            StepStarted(
                run_id="r", step_id="writer", agent="writer", provider="simulated", model="m"
            )
        )
        bus.publish(TextDelta(run_id="r", step_id="writer", text="x" * 200_000))
        started = time.monotonic()
        with pytest.raises(HistoryError) as caught:
            async with asyncio.timeout(10):
                await writer.aclose()
        assert time.monotonic() - started < 8
    finally:
        await store.aclose()
    message = caught.value.one_line()
    assert caught.value.fault is Fault.FULL
    assert "the disk is full" in message
    assert "1 event and the text of 1 step were not saved" in message


async def test_check_history_tells_sound_damaged_and_foreign_files(home: Path) -> None:
    path = home / "history.db"
    missing = await check_history(path)
    assert missing.state == "missing" and not path.exists()

    await a_history(path)
    sound = await check_history(path)
    assert sound.state == "ok" and sound.ok and sound.runs == 0

    # Damaged pages behind a valid header: only a check of the whole file finds them.
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page + 8 : 3 * page] = os.urandom(2 * page - 8)
    path.write_bytes(bytes(data))
    damaged = await check_history(path)
    assert damaged.state == "corrupt" and not damaged.ok
    assert "move the file away" in damaged.detail

    path.write_bytes(os.urandom(8192))
    foreign = await check_history(path)
    assert foreign.state == "corrupt" and "not a database" in foreign.detail


async def test_marking_dead_runs_while_another_process_writes_is_a_history_error(
    home: Path,
) -> None:
    path = home / "history.db"
    await a_history(path)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO runs(id, kind, status, owner, started_at)"
            " VALUES ('r1', 'agent', 'running', NULL, 0)"
        )
    history = History(await HistoryStore.open(path, busy_timeout=0.05), None)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(HistoryError, match="could not mark interrupted runs"):
            await history.mark_interrupted()
    finally:
        blocker.close()
    assert await history.mark_interrupted() == ["r1"]
    await history.aclose()
