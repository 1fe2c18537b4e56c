"""run_command on real processes: output, exit code, truncation, timeout and cancellation
stopping the whole process group (a child `sleep` included)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from paracle_engine.tools.base import ToolContext, ToolOutput, ToolRegistry
from paracle_engine.tools.commands import COMMAND_TOOLS

# A child that outlives the shell unless its group is stopped; its pid lands in child.pid.
SPAWN_SLEEP = "sleep 300 & echo $! > child.pid; echo started; wait"


def registry() -> ToolRegistry:
    return ToolRegistry(COMMAND_TOOLS)


async def run(root: Path, command: str, **extra: object) -> ToolOutput:
    ctx = ToolContext(root=root, max_result_bytes=extra.pop("cap", 64 * 1024))  # type: ignore[arg-type]
    return await registry().call("run_command", {"command": command, **extra}, ctx)


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting to be reaped does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}


async def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.02)
    return not alive(pid)


async def child_pid(root: Path, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    path = root / "child.pid"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        await asyncio.sleep(0.02)
    raise AssertionError("the command never wrote its child's pid")


async def test_output_and_exit_code(tmp_path: Path):
    ok = await run(tmp_path, "echo hello; echo oops >&2")
    assert ok == ToolOutput("hello\noops\n[exit code 0]")
    failed = await run(tmp_path, "echo no; exit 3")
    assert failed.is_error and failed.content.endswith("[exit code 3]")
    (tmp_path / "marker").write_text("")
    here = await run(tmp_path, "ls")
    assert here.content.splitlines()[0] == "marker"


async def test_long_output_is_cut_visibly(tmp_path: Path):
    result = await run(tmp_path, "yes abcdefghij | head -c 100000", cap=1000)
    assert result.truncated
    assert "[output truncated: showing the first 744 of 100000 bytes]" in result.content
    assert "[exit code 0]" in result.content
    assert len(result.content.encode()) <= 1000 and not result.content.count("[truncated")


async def test_a_timeout_stops_the_whole_process_group(tmp_path: Path):
    result = await run(tmp_path, SPAWN_SLEEP, timeout=0.5)
    assert result.is_error and "timed out after 0.5s" in result.content
    assert "started" in result.content
    assert await gone_within(await child_pid(tmp_path), 10.0)


async def test_cancelling_stops_the_whole_process_group(tmp_path: Path):
    task = asyncio.create_task(run(tmp_path, SPAWN_SLEEP, timeout=60))
    pid = await child_pid(tmp_path)
    assert alive(pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)
    assert await gone_within(pid, 10.0)


async def test_a_child_left_in_the_background_does_not_hold_the_answer(tmp_path: Path):
    result = await run(tmp_path, "sleep 300 & echo $! > child.pid; echo done", timeout=30)
    assert result.content.startswith("done\n") and "[exit code 0]" in result.content
    assert await gone_within(await child_pid(tmp_path), 10.0)


async def test_bad_timeouts_and_unconfigured_commands_are_error_results(tmp_path: Path):
    assert (await run(tmp_path, "true", timeout=-1)).is_error
    assert (await run(tmp_path, "  ")).is_error
    missing = await registry().call("run_tests", {}, ToolContext(root=tmp_path))
    assert missing.is_error and "no test command" in missing.content
    ctx = ToolContext(root=tmp_path, test_command="echo tests ran", lint_command="exit 1")
    assert (await registry().call("run_tests", {}, ctx)).content == "tests ran\n[exit code 0]"
    assert (await registry().call("run_lint", {}, ctx)).is_error
