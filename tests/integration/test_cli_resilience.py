"""`paracle run` / `stream` against a misbehaving loopback Messages API server."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from support.cli import cli_env, run_cli_async, start_cli
from support.loopback import Response

KEY = "sk-ant-test-resilience-000000000000-abcd"
TEXT = "Hello, world! **Streaming** works."

CONFIG = """
[retry]
max_attempts = 3
base_delay = 0.01
max_delay = 0.05

[timeouts]
connect = 0.5
first_token = 1.5
idle = 1.5

[circuit]
failure_threshold = 10
"""


@pytest.fixture
def env(tmp_path, loopback):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(CONFIG)
    return cli_env(home, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=loopback.url)


start = start_cli
paracle = run_cli_async


def fixture(fixtures_dir: Path, name: str, **changes) -> Response:
    return Response.from_fixture(fixtures_dir / "anthropic" / name, **changes)


async def test_429_with_retry_after_waits_as_told_then_succeeds(env, loopback, fixtures_dir):
    loopback.enqueue(
        Response.json(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            status=429,
            headers={"retry-after": "1"},
        ),
        fixture(fixtures_dir, "stream-text.sse"),
    )
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi")
    assert code == 0, err
    assert out.strip() == TEXT
    first, second = loopback.requests
    assert second.received_at - first.received_at >= 0.95, "the client waited the retry-after"


@pytest.mark.parametrize("failure", ["error-529.http", "stream-overloaded-before-delta.sse"])
async def test_overloaded_before_any_text_is_retried_transparently(
    env, loopback, fixtures_dir, failure
):
    loopback.enqueue(fixture(fixtures_dir, failure), fixture(fixtures_dir, "stream-text.sse"))
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi", "--json")
    assert code == 0, err
    assert json.loads(out)["output"] == TEXT
    assert len(loopback.requests) == 2


async def test_a_server_that_always_fails_stops_after_the_configured_attempts(env, loopback):
    loopback.default = Response.json(
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
        status=500,
    )
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi")
    assert code == 1
    assert len(loopback.requests) == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "500" in lines[0]
    assert out == ""


async def test_overloaded_after_text_fails_saying_where_and_keeps_the_partial(
    env, loopback, fixtures_dir
):
    loopback.enqueue(fixture(fixtures_dir, "stream-overloaded-after-delta.sse"))
    code, out, err = await paracle(env, "stream", "researcher", "--task", "hi")
    assert code == 1
    assert out == "The first half of an answer\n"
    assert len(loopback.requests) == 1, "text had reached the person: no silent restart"
    assert "after" in err and "characters" in err


async def test_a_stalled_stream_ends_with_a_timeout_message(env, loopback):
    loopback.default = Response.stalled()
    code, out, err = await paracle(env, "run", "researcher", "--task", "hi")
    assert code == 1
    assert "timed out" in err and "first token" in err
    await loopback.wait_for_disconnect()


async def test_ctrl_c_during_a_stream_exits_130_and_keeps_the_partial_in_history(
    env, loopback, fixtures_dir
):
    loopback.enqueue(fixture(fixtures_dir, "stream-text.sse").stalling_after(4))
    proc = await start(env, "stream", "researcher", "--task", "hi")
    assert await asyncio.wait_for(proc.stdout.read(5), 60) == b"Hello"
    proc.send_signal(signal.SIGINT)
    rc = await asyncio.wait_for(proc.wait(), 20)
    assert rc == 130
    await loopback.wait_for_disconnect()
    code, out, err = await paracle(env, "history", "list", "--json")
    assert code == 0, err
    runs = json.loads(out)
    assert runs[0]["status"] == "cancelled"
    code, out, _ = await paracle(env, "history", "show", runs[0]["id"], "--json")
    assert "Hello" in out
