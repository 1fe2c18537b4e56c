"""The history database: one SQLite file in WAL mode, opened through aiosqlite.

One connection writes (explicit `BEGIN IMMEDIATE` transactions, one at a time) and one reads
(`query_only`), so readers never queue behind a writer waiting on a lock. The file and its
`-wal`/`-shm` companions are private to the user (mode 0600). `write()` runs a whole
transaction of plain sqlite3 calls on the writer connection's thread in one trip, for work
(the history writer's batches) that would otherwise cost one trip per statement.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ..errors import HistoryError
from ..paths import ensure_private_dir, history_db
from .schema import MIGRATIONS, SCHEMA_VERSION

# File-system calls at open are quick, but a hung network mount must not hang the app.
_FS_TIMEOUT = 10.0
_COMPANIONS = ("", "-wal", "-shm")
T = TypeVar("T")


def _prepare_file(path: Path) -> None:
    """Create the directory (0700) and an empty database file (0600) if they are missing."""
    ensure_private_dir(path.parent)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))


def _tighten_modes(path: Path) -> None:
    """Make the database and its WAL companions readable by the user only."""
    for suffix in _COMPANIONS:
        p = Path(f"{path}{suffix}")
        with suppress(FileNotFoundError):
            if stat.S_IMODE(p.stat().st_mode) & 0o077:
                p.chmod(0o600)


class HistoryStore:
    """An open history database. Create with `await HistoryStore.open()`; close with `aclose()`."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()
        self._closed = False

    # ------------------------------------------------------------------ open / close

    @classmethod
    async def open(
        cls, path: Path | str | None = None, *, busy_timeout: float = 5.0
    ) -> HistoryStore:
        """Open (creating and migrating as needed) the history file, `paths.history_db()` by default.

        Raises HistoryError when the file is not a Paracle history or was written by a newer
        Paracle; such a file is left exactly as it was.
        """
        path = Path(path) if path is not None else history_db()
        try:
            await asyncio.wait_for(asyncio.to_thread(_prepare_file, path), _FS_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise HistoryError(
                f"cannot create the history file {path}: {exc}",
                hint="check the folder's permissions or set PARACLE_HOME to another folder",
            ) from exc
        writer = await _connect(path, busy_timeout)
        try:
            await _check_version(writer, path)
            await _configure(writer, busy_timeout)
            await _migrate(writer, path)
            await asyncio.wait_for(asyncio.to_thread(_tighten_modes, path), _FS_TIMEOUT)
            reader = await _connect(path, busy_timeout)
        except BaseException:
            await writer.close()
            raise
        try:
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(path, writer, reader, busy_timeout)

    async def aclose(self) -> None:
        """Close both connections (the last close checkpoints the WAL into the file)."""
        if self._closed:
            return
        self._closed = True
        async with self._read_lock:
            await self._reader.close()
        async with self._write_lock:
            await self._writer.close()

    async def __aenter__(self) -> HistoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ access

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction (`BEGIN IMMEDIATE` ... `COMMIT`), rolled back on any error.

        sqlite3.OperationalError (locked, disk full, read-only) reaches the caller unchanged,
        so a writer can keep its data and try again.
        """
        async with self._write_lock:
            db = self._writer
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException:
                # Shielded: a cancelled caller must still leave the connection outside a transaction.
                with suppress(sqlite3.Error):
                    await asyncio.shield(db.rollback())
                raise

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(conn)` in one write transaction on the writer connection's own thread.

        `work` gets the plain sqlite3 connection and must not await or keep it. The transaction
        commits when `work` returns and rolls back when it raises; sqlite3.OperationalError
        (locked, disk full, read-only) reaches the caller unchanged. If the caller is cancelled,
        the transaction still ends, committed or rolled back, before the connection's next use.
        """

        def in_transaction() -> T:
            conn = self._writer._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    conn.rollback()
                raise
            return result

        async with self._write_lock:
            # aiosqlite has no public call for this: `_execute` (and `_conn`) are what each of its
            # own methods uses to run a function on the connection's thread (as of aiosqlite 0.22).
            result: T = await self._writer._execute(in_transaction)
            return result

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several reads that see one consistent state of the file."""
        async with self._read_lock:
            db = self._reader
            await db.execute("BEGIN")
            try:
                yield db
            finally:
                with suppress(sqlite3.Error):
                    await asyncio.shield(db.execute("COMMIT"))

    async def fetchall(
        self, sql: str, params: Iterable[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """Rows of one read query."""
        async with self._read_lock:
            return list(await self._reader.execute_fetchall(sql, params))

    async def fetchone(
        self, sql: str, params: Iterable[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def user_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0


# --------------------------------------------------------------------------- helpers


async def _connect(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    try:
        db = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open the history file {path}: {exc}") from exc
    db.row_factory = sqlite3.Row
    return db


async def _check_version(db: aiosqlite.Connection, path: Path) -> None:
    """Read `user_version` before writing anything, so a foreign or newer file stays untouched."""
    try:
        rows = await db.execute_fetchall("PRAGMA user_version")
    except sqlite3.DatabaseError as exc:
        raise HistoryError(
            f"{path} is not a Paracle history database ({exc})",
            hint="move the file away, or set PARACLE_HOME to use another folder",
        ) from exc
    version = int(list(rows)[0][0])
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"{path} was written by a newer Paracle (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}) and was left untouched",
            hint="upgrade Paracle, or set PARACLE_HOME to use another folder",
        )


async def _configure(db: aiosqlite.Connection, busy_timeout: float) -> None:
    await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + busy_timeout
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            # Two processes switching a fresh file at once: SQLite answers one of them "locked"
            # at once, without its busy handler (that could deadlock), so wait here instead.
            if "locked" not in str(exc) or loop.time() >= deadline:
                raise
            await asyncio.sleep(0.01)
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute("PRAGMA foreign_keys = ON")


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Apply each missing migration in its own transaction, re-reading the version under the lock
    so two processes opening a fresh file at once do not both migrate it."""
    for target, statements in enumerate(MIGRATIONS, start=1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            current = int(list(await db.execute_fetchall("PRAGMA user_version"))[0][0])
            if current < target:
                if current != target - 1:
                    raise HistoryError(
                        f"{path} has schema {current}; expected {target - 1} before migrating"
                    )
                for sql in statements:
                    await db.execute(sql)
                await db.execute(f"PRAGMA user_version = {target}")
            await db.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                await db.rollback()
            raise HistoryError(
                f"cannot prepare the history file {path} (migration {target}): {exc}",
                hint="check free disk space and permissions, or set PARACLE_HOME to another folder",
            ) from exc
        except BaseException:
            with suppress(sqlite3.Error):
                await db.rollback()
            raise
