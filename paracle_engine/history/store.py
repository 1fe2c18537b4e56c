"""The history database: one SQLite file in WAL mode, opened through aiosqlite.

One connection writes (explicit `BEGIN IMMEDIATE` transactions, one at a time) and one reads
(`query_only`), so readers never queue behind a writer waiting on a lock. The file and its
`-wal`/`-shm` companions are private to the user (mode 0600). `write()` runs a whole
transaction of plain sqlite3 calls on the writer connection's thread in one trip, for work
(the history writer's batches) that would otherwise cost one trip per statement.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from paracle_engine.errors import HistoryError
from paracle_engine.history.faults import UNWRITABLE, Fault, history_error
from paracle_engine.history.schema import MIGRATIONS, SCHEMA_VERSION
from paracle_engine.paths import ensure_private_dir, history_db

log = logging.getLogger(__name__)

# File-system calls at open are quick, but a hung network mount must not hang the app.
_FS_TIMEOUT = 10.0
_COMPANIONS = ("", "-wal", "-shm")
# Faults of a file that a read-only connection may still read (in WAL mode, past a writer too).
_READABLE_ANYWAY = UNWRITABLE | {Fault.BUSY}
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
                try:
                    p.chmod(0o600)
                except OSError as exc:  # not the owner, say: the file still works
                    log.warning("cannot make %s private: %s", p, exc.strerror)


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
        # Why the file was opened for reading only (see `open(read_only_ok=True)`), else None.
        self.read_only: str | None = None

    # ------------------------------------------------------------------ open / close

    @classmethod
    async def open(
        cls,
        path: Path | str | None = None,
        *,
        busy_timeout: float = 5.0,
        read_only_ok: bool = False,
    ) -> HistoryStore:
        """Open (creating and migrating as needed) the history file, `paths.history_db()` by default.

        Raises HistoryError, its `fault` naming the cause (full, read-only, permission denied,
        locked, corrupt), when the file cannot be opened; a file that is not a Paracle history
        or was written by a newer Paracle is left exactly as it was. With `read_only_ok`, a
        file this process cannot write (a read-only file, folder or file system, a full disk,
        a write lock another program keeps) is opened for reading only, `read_only` saying why; its writes fail with
        sqlite3.OperationalError.
        """
        path = Path(path) if path is not None else history_db()
        try:
            return await cls._open_for_writing(path, busy_timeout)
        except HistoryError as exc:
            if not read_only_ok or exc.fault not in _READABLE_ANYWAY:
                raise
            why = exc
        try:
            return await cls._open_for_reading(path, busy_timeout, why)
        except HistoryError as exc:
            if exc.fault is Fault.CORRUPT or exc.fault is None:
                raise  # damaged, or a schema this Paracle cannot read as it is
            raise why from exc

    @classmethod
    async def _open_for_writing(cls, path: Path, busy_timeout: float) -> HistoryStore:
        try:
            await asyncio.wait_for(asyncio.to_thread(_prepare_file, path), _FS_TIMEOUT)
        except TimeoutError as exc:
            raise HistoryError(
                f"cannot create the history file {path}: no answer in {_FS_TIMEOUT:g} s",
                hint="check the disk, or set PARACLE_HOME to another folder",
            ) from exc
        except OSError as exc:
            raise await _named(exc, path, "create") from exc
        writer = await _connect(path, path, busy_timeout)
        try:
            await _check_version(writer, path)
            try:
                await _configure(writer, busy_timeout)
            except sqlite3.Error as exc:
                raise await _named(exc, path, "open") from exc
            await _migrate(writer, path)
            await _check_writable(writer, path)
            await asyncio.wait_for(asyncio.to_thread(_tighten_modes, path), _FS_TIMEOUT)
            reader = await _connect(path, path, busy_timeout)
        except BaseException:
            await writer.close()
            raise
        try:
            await _read_only_session(reader, busy_timeout, path)
        except BaseException:
            await reader.close()
            await writer.close()
            raise
        return cls(path, writer, reader, busy_timeout)

    @classmethod
    async def _open_for_reading(
        cls, path: Path, busy_timeout: float, why: HistoryError
    ) -> HistoryStore:
        """Both connections read-only (`mode=ro`); `immutable=1` when even that cannot start,
        which in WAL mode is when the `-shm` file is missing and cannot be created."""
        base = await asyncio.to_thread(lambda: path.absolute().as_uri())  # asks for the cwd
        failure: HistoryError | None = None
        for query in ("mode=ro", "mode=ro&immutable=1"):
            uri = f"{base}?{query}"
            try:
                first = await _connect(uri, path, busy_timeout, uri=True)
            except HistoryError as exc:
                failure = exc
                continue
            try:
                version = await _check_version(first, path)
                if version != SCHEMA_VERSION:
                    raise HistoryError(
                        f"cannot open the history file {path}: {why.message}; "
                        f"it has schema {version} and needs upgrading to {SCHEMA_VERSION}, "
                        "which needs writing to it",
                        hint=why.hint,
                    )
                second = await _connect(uri, path, busy_timeout, uri=True)
                try:
                    await _read_only_session(first, busy_timeout, path)
                    await _read_only_session(second, busy_timeout, path)
                except BaseException:
                    await second.close()
                    raise
            except HistoryError as exc:
                await first.close()
                if exc.fault is Fault.CORRUPT or exc.fault is None:
                    raise
                failure = exc
                continue
            except BaseException:
                await first.close()
                raise
            store = cls(path, first, second, busy_timeout)
            store.read_only = f"{path} cannot be written ({why.reason or why.message})"
            if "immutable" in query and await asyncio.to_thread(_has_wal_content, path):
                store.read_only += "; changes still in its -wal file are not shown"
            return store
        assert failure is not None
        raise failure

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

        def in_transaction(conn: sqlite3.Connection) -> T:
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
            return await _on_connection_thread(self._writer, in_transaction)

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


async def _on_connection_thread(
    db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]
) -> T:
    """Run `work` with `db`'s sqlite3 connection on that connection's own thread, in one trip.

    aiosqlite has no public call for this, and the history writer needs it: a whole batch as
    one sqlite3 transaction costs one trip to the database thread instead of one per statement
    (see bench/history.py). `_execute` and `_conn` are what aiosqlite's own methods use, so
    aiosqlite is pinned to 0.22.x in pyproject.toml, and tests/unit/history/test_history_store.py
    says so plainly if a release renames them.
    """
    result: T = await db._execute(lambda: work(db._conn))
    return result


async def _connect(
    target: Path | str, path: Path, busy_timeout: float, *, uri: bool = False
) -> aiosqlite.Connection:
    try:
        db = await aiosqlite.connect(target, timeout=busy_timeout, isolation_level=None, uri=uri)
    except sqlite3.Error as exc:
        raise await _named(exc, path, "open") from exc
    db.row_factory = sqlite3.Row
    return db


async def _read_only_session(db: aiosqlite.Connection, busy_timeout: float, path: Path) -> None:
    try:
        await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        await db.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise await _named(exc, path, "open") from exc


async def _named(exc: BaseException, path: Path, doing: str) -> HistoryError:
    """`faults.history_error` off the event loop: naming the fault may ask the file system."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(history_error, exc, path, doing), _FS_TIMEOUT
        )
    except TimeoutError:
        return HistoryError(
            f"cannot {doing} the history file {path}: {exc}",
            hint="check the disk, or set PARACLE_HOME to another folder",
        )


def _has_wal_content(path: Path) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError:
        return False


async def _check_version(db: aiosqlite.Connection, path: Path) -> int:
    """Read `user_version` before writing anything, so a foreign or newer file stays untouched.

    A file that is not an SQLite database is named so; a full disk, a read-only folder or a
    lock met on this first read are named for what they are.
    """
    try:
        rows = await db.execute_fetchall("PRAGMA user_version")
    except sqlite3.Error as exc:
        raise await _named(exc, path, "open") from exc
    version = int(list(rows)[0][0])
    if version > SCHEMA_VERSION:
        raise HistoryError(
            f"{path} was written by a newer Paracle (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}) and was left untouched",
            hint="upgrade Paracle, or set PARACLE_HOME to use another folder",
        )
    return version


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


async def _check_writable(db: aiosqlite.Connection, path: Path) -> None:
    """Fail now, not at the first run's first write, when SQLite opened the file read-only
    (it does so quietly when the file's mode forbids writing): set `user_version` to what it
    is, in a transaction rolled back, which SQLite refuses on a read-only file."""
    try:
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = int(list(await db.execute_fetchall("PRAGMA user_version"))[0][0])
            await db.execute(f"PRAGMA user_version = {version}")
        finally:
            with suppress(sqlite3.Error):
                await db.rollback()
    except sqlite3.Error as exc:
        raise await _named(exc, path, "write to") from exc


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Apply each missing migration in its own transaction, re-reading the version under the lock
    so two processes opening a fresh file at once do not both migrate it."""
    for target, statements in enumerate(MIGRATIONS, start=1):
        try:
            # Inside the try: a lock held past the busy timeout is named, not raised raw.
            await db.execute("BEGIN IMMEDIATE")
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
            raise await _named(exc, path, "prepare") from exc
        except BaseException:
            with suppress(sqlite3.Error):
                await db.rollback()
            raise
