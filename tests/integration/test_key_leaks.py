"""A known key goes through real commands and must come out nowhere: not in any output, not in
any error (a refused key included), not in any file under PARACLE_HOME."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from support.loopback import LoopbackServer, Response

from paracle_engine.workspace.loader import demo_workspace_path

PARACLE = [sys.executable, "-m", "paracle_tui.cli"]
KEY = "sk-ant-api03-LeakCanary7Qx2" + "Vb9" * 25 + "-Zz42"
# A stretch from the middle: catches a key cut short or wrapped as well as the whole one.
MIDDLE = KEY[20:50]


def leaks(text: str | bytes) -> bool:
    data = text.encode() if isinstance(text, str) else text
    return any(part.encode() in data for part in (KEY, MIDDLE))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(
        PARACLE_HOME=str(tmp_path / "home"),
        ANTHROPIC_API_KEY=KEY,
        # The key comes from the environment here; the Secret Service path has its own tests.
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        NO_COLOR="1",
    )
    return env


async def paracle(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *PARACLE,
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_key_reaches_the_server_and_nothing_else(
    env: dict[str, str], fixtures_dir: Path
) -> None:
    run = ["run", "researcher", "--task", "hi", "--workspace", str(demo_workspace_path())]
    outputs: dict[str, tuple[int, str, str]] = {}

    async with LoopbackServer(
        Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse"),
        Response.from_fixture(fixtures_dir / "anthropic" / "error-401.http"),
    ) as srv:
        env = {**env, "ANTHROPIC_BASE_URL": srv.url}
        outputs["run --json"] = await paracle(env, *run, "--json")
        # The server refuses the key; --debug adds the traceback, which must not show it either.
        outputs["run refused"] = await paracle(env, *run, "--debug")

    assert len(srv.requests) == 2
    assert all(leaks(json.dumps(r.headers)) for r in srv.requests)  # it was really sent

    code, out, err = outputs["run --json"]
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    code, _, err = outputs["run refused"]
    assert code == 1
    assert err.splitlines()[-1].startswith("error: ")
    assert "401" in err or "authentication" in err.lower()

    for args in (
        ["keys", "status"],
        ["keys", "status", "--json"],
        ["doctor"],
        ["doctor", "--json"],
        ["history", "list", "--json"],
        ["history", "show", run_id, "--json"],
    ):
        outputs[" ".join(args)] = await paracle(env, *args)
        assert outputs[" ".join(args)][0] == 0, outputs[" ".join(args)][2]
    assert "sk-ant-…Zz42" in outputs["keys status --json"][1]  # masked, as it should be

    for name, (_, out, err) in outputs.items():
        assert not leaks(out), f"`paracle {name}` printed the key"
        assert not leaks(err), f"`paracle {name}` wrote the key to stderr"

    files = files_under(Path(env["PARACLE_HOME"]))
    assert any(p.name == "history.db" for p in files), list(files)  # the runs were recorded
    for path, data in files.items():
        assert not leaks(data), f"{path} holds the key"


def files_under(folder: Path) -> dict[Path, bytes]:
    """Every file below ``folder`` with its bytes (the database, its WAL, anything else)."""
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
