"""`check_history()`: is the history file sound? For `paracle doctor`.

The file is opened read-only (nothing is created, migrated or marked), its schema version
read and `PRAGMA quick_check` run over it, with a deadline: a file of random bytes, a
damaged page or a truncated file is reported as corrupt, not as a valid history.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from paracle_engine.history.faults import Fault, classify, probe, reason
from paracle_engine.history.schema import SCHEMA_VERSION
from paracle_engine.paths import history_db

_CHECK_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class HistoryCheck:
    """`state`: "missing", "ok", "corrupt", "newer", "unreadable"; `ok` is False for the last
    three. `detail` says it in words; `writable` names why runs could not be saved, if so."""

    state: str
    ok: bool
    detail: str
    schema: int | None = None
    runs: int | None = None
    writable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def check_history(
    path: Path | str | None = None, *, within: float = _CHECK_TIMEOUT
) -> HistoryCheck:
    """Check the history file (`paths.history_db()` by default) within `within` seconds."""
    path = Path(path) if path is not None else history_db()
    try:
        # The thread interrupts its own query at the deadline; the margin covers a hung disk.
        return await asyncio.wait_for(asyncio.to_thread(_check, path, within), within + 5.0)
    except TimeoutError:
        return HistoryCheck(
            "unreadable", False, f"the check got no answer from the disk in {within:g} s"
        )


def _check(path: Path, timeout: float) -> HistoryCheck:
    if not path.exists():
        return HistoryCheck("missing", True, "not created yet")
    deadline = time.monotonic() + timeout
    base = path.absolute().as_uri()
    failure: BaseException | None = None
    # `immutable=1` when even a read-only connection cannot start (no -shm, folder read-only).
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{base}?{query}", uri=True, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            failure = exc
            continue
        try:
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            result = _examine(conn, path, timeout)
        except sqlite3.Error as exc:
            if classify(exc, path) is Fault.CORRUPT:
                return _corrupt(str(exc))
            failure = exc
            continue
        finally:
            conn.close()
        return result
    assert failure is not None
    fault = classify(failure, path)
    if fault is Fault.CORRUPT:
        return _corrupt(str(failure))
    return HistoryCheck("unreadable", False, f"cannot be read: {reason(fault, path, failure)}")


def _examine(conn: sqlite3.Connection, path: Path, timeout: float) -> HistoryCheck:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        return HistoryCheck(
            "newer",
            False,
            f"written by a newer Paracle (schema {version}; this one knows up to "
            f"{SCHEMA_VERSION}): upgrade Paracle",
            schema=version,
        )
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            return HistoryCheck(
                "unreadable", False, f"the check did not finish in {timeout:g} s", schema=version
            )
        raise
    if problems != ["ok"]:
        return _corrupt("; ".join(problems))
    runs = None
    if version > 0:
        runs = int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    fault = probe(path)
    writable = None if fault is None else f"runs cannot be saved here: {fault.value}"
    counted = f"{runs} run" if runs == 1 else f"{runs} runs"
    if version == 0:
        detail = "ok, empty (set up on the next run)"
    elif version < SCHEMA_VERSION:
        detail = f"ok, {counted}, schema {version} (upgraded to {SCHEMA_VERSION} on next use)"
    else:
        detail = f"ok, {counted}, schema {version}"
    return HistoryCheck("ok", True, detail, schema=version, runs=runs, writable=writable)


def _corrupt(detail: str) -> HistoryCheck:
    return HistoryCheck(
        "corrupt",
        False,
        f"corrupt, not a usable Paracle history ({' '.join(detail.split())}): move the file "
        "away, or set PARACLE_HOME to use another folder",
    )
