"""An API key never reaches the history: not in any table, not in the WAL, not in the shm file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.loopback import LoopbackServer, Response

from paracle_engine.config import Settings
from paracle_engine.engine import Engine
from paracle_engine.errors import ParacleError
from paracle_engine.events import EventBus, RunStarted, StepFailed, StepStarted, TextDelta
from paracle_engine.history import open_history
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace

KEY = "sk-ant-api03-PARACLE-TEST-KEY-7f3a9c1e5b"


def files_containing(home: Path, needle: str) -> list[str]:
    """Every file under `home` whose bytes contain `needle`, and the list of files scanned."""
    data = needle.encode()
    return sorted(
        str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and data in p.read_bytes()
    )


def scanned(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PARACLE_HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return home


async def test_a_real_agent_run_with_a_key_leaves_no_trace_of_it(
    home: Path, loopback: LoopbackServer, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", loopback.url)
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse"))
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "error-401.http"))
    workspace = load_workspace(demo_workspace_path())
    agent = next(iter(workspace.agents))
    engine = Engine(workspace, settings=Settings(), provider="anthropic", history=True)
    async with engine:
        result = await engine.execute_agent(agent, "Say hello to the owls")
        with pytest.raises(ParacleError):
            await engine.execute_agent(agent, "And again, please")
        await engine.history.writer.flush()
        # While the app runs: the WAL and shm files exist and hold the newest pages.
        open_files = scanned(home)
        assert {"history.db", "history.db-wal", "history.db-shm"} <= set(open_files)
        assert files_containing(home, KEY) == []
        assert files_containing(home, "owls")  # the scan does see what was written
    sent = loopback.requests[0].headers
    assert KEY in (sent.get("x-api-key", ""), sent.get("authorization", "").removeprefix("Bearer "))
    assert result.output == "Hello, world! **Streaming** works."
    assert files_containing(home, KEY) == []
    assert files_containing(home, "Streaming") == ["history.db"]


async def test_a_key_pasted_into_a_prompt_or_quoted_in_an_error_is_redacted(home: Path) -> None:
    bus = EventBus()
    history = await open_history(bus)
    try:
        bus.publish(RunStarted(run_id="r", kind="agent", target="bot", task=f"use {KEY} please"))
        bus.publish(
            StepStarted(
                run_id="r",
                step_id="bot",
                agent="bot",
                provider="anthropic",
                model="m",
                system_prompt="plain",
                prompt=f"use {KEY} please",
            )
        )
        bus.publish(TextDelta(run_id="r", step_id="bot", text=f"echo {KEY}"))
        bus.publish(StepFailed(run_id="r", step_id="bot", error=f"401 for key {KEY}"))
        await history.writer.flush()
        detail = await history.runs.get_run("r")
        assert files_containing(home, KEY) == []
    finally:
        await history.aclose()
        await bus.aclose()
    assert detail.run.task == "use [redacted] please"
    assert detail.step("bot").error == "401 for key [redacted]"
    assert [m.content for m in detail.step("bot").messages] == [
        "plain",
        "use [redacted] please",
        "echo [redacted]",
    ]
    assert files_containing(home, KEY) == []
