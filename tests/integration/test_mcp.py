"""MCP servers through the manager: a real server (tests/support/mcp_server.py) over stdio
and over streamable HTTP on loopback, started from a real config in a temp project."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from paracle_engine.tools.base import ToolContext, ToolRegistry
from paracle_engine.tools.mcp import McpManager, expand_mcp_names
from paracle_engine.tools.mcp_config import load_mcp_config

SERVER = Path(__file__).resolve().parents[1] / "support" / "mcp_server.py"
pytestmark = pytest.mark.timeout(60)


def project(tmp_path: Path, servers: dict[str, object], file: str = ".mcp.json") -> Path:
    (tmp_path / ".parac").mkdir(exist_ok=True)
    target = tmp_path / file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return tmp_path


def stdio_entry(**extra: object) -> dict[str, object]:
    return {"command": sys.executable, "args": [str(SERVER)], **extra}


async def gone(pid: int, deadline: float = 10.0) -> bool:
    """Whether process `pid` has ended (and been reaped) within `deadline` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
def context(tmp_path: Path) -> ToolContext:
    return ToolContext(root=tmp_path)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[McpManager]:
    os.environ["PARACLE_MCP_TEST_SECRET"] = "do-not-leak"
    os.environ["PARACLE_MCP_TEST_GREETING"] = "hello"
    root = project(
        tmp_path,
        {
            "local": stdio_entry(env={"GREETING": "${PARACLE_MCP_TEST_GREETING}"}),
            "missing": {"command": str(tmp_path / "no-such-server")},
        },
    )
    found = await McpManager.open(root, start_timeout=20.0)
    try:
        yield found
    finally:
        await found.aclose()
        del os.environ["PARACLE_MCP_TEST_SECRET"]
        del os.environ["PARACLE_MCP_TEST_GREETING"]


async def test_stdio_tools_are_named_listed_and_called(
    manager: McpManager, context: ToolContext
) -> None:
    tools = await manager.tools_for(["mcp__local"])
    names = [tool.name for tool in tools]
    assert {"mcp__local__echo", "mcp__local__add", "mcp__local__fail"} <= set(names)
    registry = ToolRegistry(tools)
    echoed = await registry.call("mcp__local__echo", {"text": "bonjour"}, context)
    assert (echoed.content, echoed.is_error) == ("bonjour", False)
    added = await registry.call("mcp__local__add", {"a": 2, "b": 3}, context)
    assert added.content == "5"
    failed = await registry.call("mcp__local__fail", {"reason": "on purpose"}, context)
    assert failed.is_error and "on purpose" in failed.content
    picture = await registry.call("mcp__local__picture", {}, context)
    assert picture.content == "[image: image/png, 66 bytes]"
    assert manager.warnings == []


async def test_one_tool_by_name_and_expansion(manager: McpManager) -> None:
    tools = await manager.tools_for(["mcp__local__echo", "read_file", "mcp__local__nope"])
    assert [tool.name for tool in tools] == ["mcp__local__echo"]
    assert manager.warnings == ["MCP server 'local' has no tool 'nope'"]
    available = [tool.name for tool in manager.tools("local")]
    assert expand_mcp_names(["mcp__local__add", "mcp__local"], available)[0] == "mcp__local__add"
    assert set(expand_mcp_names(["mcp__local", "git_status"], available)) == set(available)


async def test_results_are_capped(manager: McpManager, tmp_path: Path) -> None:
    [echo] = await manager.tools_for(["mcp__local__echo"])
    result = await echo.call({"text": "x" * 5000}, ToolContext(root=tmp_path, max_result_bytes=100))
    assert result.truncated and "[truncated" in result.content


async def test_environment_is_expanded_not_inherited(
    manager: McpManager, context: ToolContext
) -> None:
    [env] = await manager.tools_for(["mcp__local__env"])
    assert (await env.call({"name": "GREETING"}, context)).content == "hello"
    assert (await env.call({"name": "PARACLE_MCP_TEST_SECRET"}, context)).content == "<unset>"
    assert (await env.call({"name": "PATH"}, context)).content == os.environ["PATH"]


async def test_a_command_that_does_not_exist_is_one_warning(
    manager: McpManager, context: ToolContext
) -> None:
    tools = await manager.tools_for(["mcp__missing", "mcp__local__echo"])
    assert [tool.name for tool in tools] == ["mcp__local__echo"]
    assert len(manager.warnings) == 1
    assert manager.warnings[0].startswith("MCP server 'missing' unavailable: command not found")
    assert manager.state("missing") == "failed"
    assert (await tools[0].call({"text": "still here"}, context)).content == "still here"
    failed = await manager.call("missing", "echo", {"text": "x"})
    assert failed.is_error and "unavailable" in failed.content
    assert await manager.tools_for(["mcp__missing"]) == []
    assert len(manager.warnings) == 1


async def test_a_server_killed_mid_run_gives_an_error_not_a_hang(
    manager: McpManager, context: ToolContext
) -> None:
    tools = {tool.name: tool for tool in await manager.tools_for(["mcp__local"])}
    pid = int((await tools["mcp__local__pid"].call({}, context)).content)
    sleeping = asyncio.ensure_future(tools["mcp__local__sleep"].call({"seconds": 30}, context))
    await asyncio.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(sleeping, 15)
    assert result.is_error
    again = await asyncio.wait_for(tools["mcp__local__echo"].call({"text": "x"}, context), 15)
    assert again.is_error and "unavailable" in again.content
    assert len(manager.warnings) == 1 and "'local' unavailable" in manager.warnings[0]
    assert await gone(pid)


async def test_aclose_stops_the_server_process(tmp_path: Path, context: ToolContext) -> None:
    root = project(tmp_path, {"local": stdio_entry()})
    manager = await McpManager.open(root, start_timeout=20.0)
    manager.start("local")  # returns at once; the tools come later
    tools = await manager.tools_for(["mcp__local__pid"])
    pid = int((await tools[0].call({}, context)).content)
    await manager.aclose()
    assert await gone(pid)
    assert manager.state("local") == "closed"
    assert (await tools[0].call({}, context)).is_error


async def test_a_slow_start_is_one_warning_at_the_deadline(tmp_path: Path) -> None:
    sleeper = tmp_path / "slow.py"
    sleeper.write_text("import time\ntime.sleep(60)\n", encoding="utf-8")
    root = project(tmp_path, {"slow": {"command": sys.executable, "args": [str(sleeper)]}})
    async with await McpManager.open(root, start_timeout=0.5) as manager:
        assert await manager.tools_for(["mcp__slow"]) == []
        assert manager.warnings == ["MCP server 'slow' unavailable: no answer within 0.5 s"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # 20 s for the server to listen
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None:
                pytest.fail("the MCP HTTP test server exited")
            import time

            time.sleep(0.1)
        else:
            pytest.fail("the MCP HTTP test server did not listen within 20 s")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def test_streamable_http(http_server: str, tmp_path: Path, context: ToolContext) -> None:
    os.environ["PARACLE_MCP_TEST_URL"] = http_server
    try:
        root = project(
            tmp_path,
            {"web": {"url": "${PARACLE_MCP_TEST_URL}", "headers": {"X-Test": "1"}}},
            file=".parac/mcp.json",
        )
        async with await McpManager.open(root, start_timeout=20.0) as manager:
            tools = await manager.tools_for(["mcp__web__add", "mcp__web__fail"])
            assert [tool.name for tool in tools] == ["mcp__web__add", "mcp__web__fail"]
            assert (await tools[0].call({"a": 1, "b": 41}, context)).content == "42"
            assert (await tools[1].call({}, context)).is_error
            assert manager.warnings == []
    finally:
        del os.environ["PARACLE_MCP_TEST_URL"]


def test_config_files_order_duplicates_variables_and_bad_json(tmp_path: Path) -> None:
    project(
        tmp_path, {"a": {"command": "first"}, "b": {"url": "${NOPE_UNSET_VAR}"}}, ".parac/mcp.json"
    )
    project(
        tmp_path,
        {"a": {"command": "second"}, "c": {"command": "c"}},
        ".parac/config/mcp_config.json",
    )
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {\n  "a": {"command": "third"},\n}\n}')
    config = load_mcp_config(tmp_path, environ={})
    assert list(config.servers) == ["a", "c"]
    assert config.servers["a"].command == "first"
    assert config.warnings == (
        "MCP server 'b' (.parac/mcp.json) skipped: environment variable NOPE_UNSET_VAR is not set",
        "MCP server 'a' is defined in .parac/mcp.json and again in "
        ".parac/config/mcp_config.json; using the one in .parac/mcp.json",
        "MCP config skipped: .mcp.json:3:1: bad JSON: Expecting property name enclosed in double quotes",
    )
