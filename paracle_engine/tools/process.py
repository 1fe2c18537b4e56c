"""Running a child process for a tool: its own process group, bounded output, a deadline.

The child starts in a new session (`start_new_session=True`), so it and everything it
spawns share one process group. On timeout or cancellation the whole group is stopped:
SIGTERM, a short grace, then SIGKILL. Output (stdout and stderr together) is kept up to a
cap and the rest drained and counted, so a chatty child never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
DRAIN_GRACE = 1.0  # how long output may stay open after the command itself has exited
_CHUNK = 64 * 1024
_POLL = 0.05  # how often the exit of the command itself is looked for
_NOTE_ROOM = 256  # bytes of the output cap left for the notes a tool adds after it


@dataclass(frozen=True)
class ProcessOutcome:
    """How a child ended: exit code (None if stopped), its output, how much was dropped."""

    exit_code: int | None
    output: str
    total_bytes: int
    kept_bytes: int
    timed_out: bool = False
    stopped_leftovers: bool = False

    @property
    def truncated(self) -> bool:
        return self.total_bytes > self.kept_bytes


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def stop_group(process: asyncio.subprocess.Process) -> None:
    """Stop `process` and its whole group: SIGTERM, up to KILL_GRACE, then SIGKILL."""
    pgid = process.pid  # a session leader's group id is its pid
    _signal_group(pgid, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE):
            await process.wait()
    except TimeoutError:
        pass
    _signal_group(pgid, signal.SIGKILL)  # members that ignored SIGTERM, or outlived the leader
    try:
        async with asyncio.timeout(KILL_GRACE):
            await process.wait()
    except TimeoutError:
        pass


async def _drain(stream: asyncio.StreamReader, cap: int, kept: bytearray) -> int:
    total = 0
    while chunk := await stream.read(_CHUNK):
        total += len(chunk)
        room = cap - len(kept)
        if room > 0:
            kept.extend(chunk[:room])
    return total


async def run_process(
    argv: Sequence[str] | str,
    *,
    cwd: Path,
    time_limit: float,
    max_output_bytes: int,
    env: Mapping[str, str] | None = None,
) -> ProcessOutcome:
    """Run `argv` (a list, or a string for the shell) in `cwd` for at most `time_limit` seconds.

    Output is kept up to `max_output_bytes` less a little room for the caller's notes.
    Cancellation stops the process group and is re-raised. A command that exits but leaves
    children holding its output open has them stopped after DRAIN_GRACE.
    """
    common = {
        "cwd": cwd,
        "stdin": asyncio.subprocess.DEVNULL,
        "stdout": asyncio.subprocess.PIPE,
        "stderr": asyncio.subprocess.STDOUT,
        "start_new_session": True,
        "env": None if env is None else dict(env),
    }
    if isinstance(argv, str):
        process = await asyncio.create_subprocess_shell(argv, **common)  # type: ignore[arg-type]
    else:
        process = await asyncio.create_subprocess_exec(*argv, **common)  # type: ignore[arg-type]
    assert process.stdout is not None
    kept = bytearray()
    cap = max(0, max_output_bytes - _NOTE_ROOM)
    drain = asyncio.ensure_future(_drain(process.stdout, cap, kept))
    timed_out = leftovers = False
    try:
        try:
            async with asyncio.timeout(time_limit):
                # Not process.wait(): it also waits for the pipe, which a background
                # child may hold open long after the command itself has exited.
                while process.returncode is None:  # noqa: ASYNC110 (no exit event to wait on)
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            timed_out = True
            await stop_group(process)
        try:
            async with asyncio.timeout(DRAIN_GRACE):
                await asyncio.shield(drain)
        except TimeoutError:
            leftovers = True
            await stop_group(process)
    except asyncio.CancelledError:
        await asyncio.shield(stop_group(process))
        drain.cancel()
        raise
    try:
        async with asyncio.timeout(KILL_GRACE):
            total = await drain
    except TimeoutError:  # something outside the group holds the pipe
        drain.cancel()
        total = len(kept)
    return ProcessOutcome(
        exit_code=None if timed_out else process.returncode,
        output=bytes(kept).decode("utf-8", errors="replace"),
        total_bytes=max(total, len(kept)),
        kept_bytes=len(kept),
        timed_out=timed_out,
        stopped_leftovers=leftovers,
    )
