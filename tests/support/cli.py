"""Run the real `paracle` command line in a subprocess, with a private PARACLE_HOME."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARACLE = [sys.executable, "-m", "paracle_tui.cli"]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without provider keys or base URLs, history under `home`, no keyring."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        PARACLE_HOME=str(home),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PARACLE, *args],
        env=env,
        cwd=cwd or ROOT / "tests",
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


async def start_cli(env: dict[str, str], *args: str, **kwargs) -> asyncio.subprocess.Process:
    kwargs.setdefault("stdout", asyncio.subprocess.PIPE)
    kwargs.setdefault("stderr", asyncio.subprocess.PIPE)
    return await asyncio.create_subprocess_exec(
        *PARACLE, *args, env=env, cwd=ROOT / "tests", **kwargs
    )


async def run_cli_async(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run to the end while the test's loop keeps serving (a loopback server, say)."""
    proc = await start_cli(env, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
