"""The history file: where it lives, its modes, its pragmas, and its migrations."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import stat
import threading
from pathlib import Path

import aiosqlite
import pytest

from paracle_engine.errors import HistoryError
from paracle_engine.history import HistoryStore
from paracle_engine.history.schema import SCHEMA_VERSION
from paracle_engine.paths import history_db


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _modes(path: Path) -> dict[str, int | None]:
    """Permission bits of the folder, the file and its WAL companions (None when missing)."""
    out: dict[str, int | None] = {"dir": stat.S_IMODE(path.parent.stat().st_mode)}
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        out[suffix or "db"] = stat.S_IMODE(p.stat().st_mode) if p.exists() else None
    return out


def _write_notes(path: Path) -> None:
    path.write_bytes(b"this is not sqlite, just some notes\n" * 200)


def _make_home(home: Path) -> Path:
    home.mkdir(parents=True)
    return home / "history.db"


async def test_opens_under_paracle_home_private_wal_and_migrated(home: Path) -> None:
    store = await HistoryStore.open()
    try:
        assert store.path == history_db() == home / "history.db"
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'agent', 'running', 1)"
            )
        assert _modes(store.path) == {"dir": 0o700, "db": 0o600, "-wal": 0o600, "-shm": 0o600}
        assert (await store.fetchone("PRAGMA journal_mode"))[0] == "wal"
        assert await store.user_version() == SCHEMA_VERSION
        async with store.transaction() as db:
            sync = list(await db.execute_fetchall("PRAGMA synchronous"))[0][0]
            busy = list(await db.execute_fetchall("PRAGMA busy_timeout"))[0][0]
        assert sync == 1  # NORMAL
        assert busy == 5000
    finally:
        await store.aclose()


async def test_existing_file_with_loose_mode_is_tightened(home: Path) -> None:
    path = _make_home(home)
    sqlite3.connect(path).close()
    path.chmod(0o644)
    async with await HistoryStore.open() as store:
        assert _modes(store.path)["db"] == 0o600


async def test_reopening_keeps_data_and_does_not_migrate_again(home: Path) -> None:
    async with await HistoryStore.open() as store:
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'agent', 'completed', 1)"
            )
    async with await HistoryStore.open() as store:
        assert await store.user_version() == SCHEMA_VERSION
        assert (await store.fetchone("SELECT count(*) FROM runs"))[0] == 1


async def test_two_processes_opening_a_fresh_file_at_once_both_succeed(home: Path) -> None:
    stores = await asyncio.gather(HistoryStore.open(), HistoryStore.open())
    try:
        for store in stores:
            assert await store.user_version() == SCHEMA_VERSION
    finally:
        for store in stores:
            await store.aclose()


async def test_a_file_from_a_newer_paracle_is_refused_and_untouched(home: Path) -> None:
    path = _make_home(home)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future(x)")
    conn.execute("INSERT INTO future VALUES (42)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(HistoryError, match="newer Paracle") as info:
        await HistoryStore.open()
    assert "upgrade Paracle" in info.value.one_line()
    assert _digest(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # WAL was not switched on
    conn.close()


async def test_a_file_that_is_not_a_database_is_refused_and_untouched(home: Path) -> None:
    path = _make_home(home)
    _write_notes(path)
    before = _digest(path)
    with pytest.raises(HistoryError, match="not a Paracle history"):
        await HistoryStore.open()
    assert _digest(path) == before


async def test_a_failed_transaction_rolls_back(home: Path) -> None:
    async with await HistoryStore.open() as store:
        with pytest.raises(RuntimeError):
            async with store.transaction() as db:
                await db.execute(
                    "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'agent', 'running', 1)"
                )
                raise RuntimeError("boom")
        assert (await store.fetchone("SELECT count(*) FROM runs"))[0] == 0
        async with store.transaction() as db:  # the connection is usable again
            await db.execute(
                "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'agent', 'running', 1)"
            )
        assert (await store.fetchone("SELECT count(*) FROM runs"))[0] == 1


async def test_an_unwritable_folder_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    _write_notes(blocker)
    with pytest.raises(HistoryError, match="cannot create the history file"):
        await HistoryStore.open(blocker / "sub" / "history.db")


def test_aiosqlite_still_has_the_private_calls_the_writer_relies_on() -> None:
    """HistoryStore.write reaches into aiosqlite (pinned to 0.22.x): say so if that breaks."""
    missing = [name for name in ("_execute", "_conn") if not hasattr(aiosqlite.Connection, name)]
    assert not missing, (
        f"aiosqlite {aiosqlite.__version__} has no Connection.{' or .'.join(missing)}, which "
        "HistoryStore.write uses to run a batch on the connection's thread in one trip "
        "(_on_connection_thread in paracle_engine/history/store.py): keep the pin in "
        "pyproject.toml or port that function to the new release"
    )


async def test_write_runs_one_transaction_on_the_connection_thread(home: Path) -> None:
    seen: list[tuple[int, bool]] = []

    def work(conn: sqlite3.Connection) -> int:
        seen.append((threading.get_ident(), conn.in_transaction))
        conn.execute(
            "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'agent', 'running', 1)"
        )
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO runs(id, kind, status, started_at) VALUES ('s', 'agent', 'running', 1)"
        )
        raise RuntimeError("boom")

    async with await HistoryStore.open() as store:
        assert await store.write(work) == 1
        with pytest.raises(RuntimeError):
            await store.write(broken)
        assert (await store.fetchone("SELECT count(*) FROM runs"))[0] == 1
    [(thread, in_transaction)] = seen
    assert thread != threading.get_ident() and in_transaction
