"""Which process wrote a run, so a crashed run can be told from one another process still runs.

A run's `owner` is `host:pid:start`, where `start` is the process start time from /proc when
the system has it; it guards against a recycled pid looking alive.
"""

from __future__ import annotations

import os
import socket
from functools import cache


def _proc_stat(pid: int) -> list[bytes]:
    """The fields of /proc/PID/stat after the command name (state first), or [] without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    # The command name is parenthesised and may hold spaces: split after its closing bracket.
    return raw[raw.rfind(b")") + 2 :].split()


def _start_time(pid: int) -> str:
    fields = _proc_stat(pid)
    return fields[19].decode() if len(fields) > 19 else ""


@cache
def _owner_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_owner() -> str:
    """This process's owner token."""
    return _owner_of(os.getpid())


def owner_alive(owner: str | None) -> bool:
    """True when `owner` is this process or a live process on this host started at that time."""
    if not owner:
        return False
    if owner == process_owner():
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine sharing the folder: it cannot be checked, so assume it runs
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    fields = _proc_stat(pid)
    if fields and fields[0] == b"Z":
        return False  # killed, not yet reaped
    return not start or not fields or _start_time(pid) == start
