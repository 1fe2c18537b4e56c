"""`paracle run` and `paracle stream` against a loopback server speaking the Messages API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from support.cli import cli_env, run_cli_async, start_cli
from support.loopback import Response

KEY = "sk-ant-test-0000000000000000000000-abcd"


def anthropic_env(tmp_path: Path, base_url: str) -> dict[str, str]:
    return cli_env(tmp_path / "home", ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=base_url)


def sent_key(request) -> str | None:
    """The key a request carried: the SDK sends `x-api-key` or `authorization: Bearer`."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


paracle = run_cli_async


async def test_run_json_reports_the_servers_usage(loopback, fixtures_dir, tmp_path):
    loopback.enqueue(Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse"))
    code, out, err = await paracle(
        anthropic_env(tmp_path, loopback.url), "run", "researcher", "--task", "hi", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["output"] == "Hello, world! **Streaming** works."
    assert data["usage"] == {"input_tokens": 25, "output_tokens": 12}
    assert data["provider"] == "anthropic"
    request = loopback.requests[0]
    assert request.path == "/v1/messages"
    assert sent_key(request) == KEY
    assert request.json["stream"] is True
    assert request.json["messages"] == [{"role": "user", "content": "hi"}]
    assert request.json["system"], "the agent's system prompt is sent"
    assert KEY not in out and KEY not in err


async def test_stream_prints_text_as_it_arrives(loopback, fixtures_dir, tmp_path):
    # The server pauses between events; the first words must be on stdout before the last is sent.
    loopback.enqueue(
        Response.from_fixture(fixtures_dir / "anthropic" / "stream-text.sse", delay=0.4)
    )
    proc = await start_cli(
        anthropic_env(tmp_path, loopback.url), "stream", "researcher", "--task", "hi"
    )
    first = await asyncio.wait_for(proc.stdout.read(5), 30)
    assert first == b"Hello"
    assert proc.returncode is None, "text arrived while the stream was still open"
    rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert (first + rest).decode() == "Hello, world! **Streaming** works.\n"


async def test_refused_key_is_one_line_without_the_key(loopback, fixtures_dir, tmp_path):
    loopback.default = Response.from_fixture(fixtures_dir / "anthropic" / "error-401.http")
    code, out, err = await paracle(
        anthropic_env(tmp_path, loopback.url), "run", "researcher", "--task", "hi"
    )
    assert code == 1
    assert len(loopback.requests) == 1
    line = err.strip()
    assert "\n" not in line and "key" in line.lower()
    assert KEY not in err and KEY not in out
