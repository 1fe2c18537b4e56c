"""What went wrong with the history file, named for what it is.

SQLite answers a full disk, a read-only file system, a missing permission and a damaged file
with different codes, and some of them (a `-shm` file that cannot be sized, a file that cannot
be opened) only as "disk I/O error" or "unable to open database file". `classify` turns an
error into one `Fault`, asking the file system when SQLite's code leaves it open, and
`history_error` into a HistoryError that says it and what to do. Only a damaged file is
ever called "not a Paracle history database", and only then is moving it away the advice.
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from enum import StrEnum
from pathlib import Path

from paracle_engine.errors import HistoryError, one_line


class Fault(StrEnum):
    FULL = "full"
    READ_ONLY = "read-only"
    DENIED = "permission denied"
    BUSY = "locked"
    CORRUPT = "corrupt"
    IO = "i/o error"


# Faults that mean "this process cannot write the file", where reading it may still work.
UNWRITABLE = frozenset({Fault.FULL, Fault.READ_ONLY, Fault.DENIED})

_BY_SQLITE_CODE = {
    sqlite3.SQLITE_FULL: Fault.FULL,
    sqlite3.SQLITE_READONLY: Fault.READ_ONLY,
    sqlite3.SQLITE_PERM: Fault.DENIED,
    sqlite3.SQLITE_AUTH: Fault.DENIED,
    sqlite3.SQLITE_BUSY: Fault.BUSY,
    sqlite3.SQLITE_LOCKED: Fault.BUSY,
    sqlite3.SQLITE_NOTADB: Fault.CORRUPT,
    sqlite3.SQLITE_CORRUPT: Fault.CORRUPT,
}
_BY_ERRNO = {
    errno.ENOSPC: Fault.FULL,
    errno.EDQUOT: Fault.FULL,
    errno.EFBIG: Fault.FULL,
    errno.EROFS: Fault.READ_ONLY,
    errno.EACCES: Fault.DENIED,
    errno.EPERM: Fault.DENIED,
}
# Below this much free space, SQLite cannot size a `-shm` file or add a WAL frame.
_NEARLY_FULL = 64 * 1024


def classify(exc: BaseException, path: Path) -> Fault:
    """The fault behind `exc`, an sqlite3.Error or OSError met while using the file at `path`."""
    if isinstance(exc, HistoryError) and isinstance(exc.fault, Fault):
        return exc.fault
    if isinstance(exc, OSError) and exc.errno in _BY_ERRNO:
        return _BY_ERRNO[exc.errno]
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code >= 0:
        found = _BY_SQLITE_CODE.get(code & 0xFF)
        if found is not None:
            return found
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return Fault.CORRUPT
    # "disk I/O error", "unable to open database file": ask the file system why.
    return probe(path) or Fault.IO


def probe(path: Path) -> Fault | None:
    """Why the file at `path` cannot be written, as the file system tells it; None if it can.

    Blocking (file-system calls): run it off the event loop.
    """
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fs = os.statvfs(folder)
    except OSError:
        return Fault.IO
    if fs.f_flag & os.ST_RDONLY:
        return Fault.READ_ONLY
    if fs.f_bavail * fs.f_frsize < _NEARLY_FULL:
        return Fault.FULL
    if _size_limit_reached(path):
        return Fault.FULL
    if not os.access(folder, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        return Fault.DENIED
    return None


def _size_limit_reached(path: Path) -> bool:
    """A file size limit (`ulimit -f`) that the file or its WAL has reached."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    for suffix in ("", "-wal"):
        try:
            if os.path.getsize(f"{path}{suffix}") + _NEARLY_FULL > limit:
                return True
        except OSError:
            continue
    return False


def describe(exc: BaseException, path: Path) -> tuple[Fault, str]:
    """`classify` and `reason` together. Blocking (file-system calls): run it off the loop."""
    fault = classify(exc, path)
    return fault, reason(fault, path, exc)


def reason(fault: Fault, path: Path, exc: BaseException) -> str:
    """A short phrase for the fault, with SQLite's or the system's own words after it."""
    detail = _detail(exc)
    if fault is Fault.FULL:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and _size_limit_reached(path):
            return f"the file size limit is reached (ulimit -f, {limit} bytes; {detail})"
        return f"the disk is full ({detail})"
    if fault is Fault.READ_ONLY:
        return f"it is read-only ({detail})"
    if fault is Fault.DENIED:
        return f"permission denied ({detail})"
    if fault is Fault.BUSY:
        return f"another program holds it locked ({detail})"
    if fault is Fault.CORRUPT:
        return f"it is damaged ({detail})"
    return f"an I/O error ({detail})"


_HINTS = {
    Fault.FULL: "free some disk space, or set PARACLE_HOME to a folder on another disk",
    Fault.READ_ONLY: "make the file and its folder writable, or set PARACLE_HOME to another folder",
    Fault.DENIED: "check the owner and permissions of the file and its folder, "
    "or set PARACLE_HOME to another folder",
    Fault.BUSY: "close the other program using the history, then try again",
    Fault.CORRUPT: "move the file away, or set PARACLE_HOME to use another folder",
    Fault.IO: "check the disk, or set PARACLE_HOME to another folder",
}


def history_error(exc: BaseException, path: Path, doing: str) -> HistoryError:
    """A HistoryError for `exc`, met while `doing` ("open", "write", ...) the file at `path`."""
    if isinstance(exc, HistoryError):
        return exc
    fault = classify(exc, path)
    why = reason(fault, path, exc)
    if fault is Fault.CORRUPT:
        message = f"{path} is not a Paracle history database, or it is damaged ({_detail(exc)})"
    else:
        message = f"cannot {doing} the history file {path}: {why}"
    return HistoryError(message, hint=_HINTS[fault], fault=fault, reason=why)


def _detail(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return one_line(exc, kind=False)
