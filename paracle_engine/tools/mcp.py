"""MCP servers as tools: started when first needed, each owned by one long-lived task.

`McpManager` holds the configured servers (`tools/mcp_config.py`). `start(name)` returns at
once and the server comes up in the background; its tools (`McpTool`, named
`mcp__SERVER__TOOL`) appear once it has listed them, and `await tools_for(names)` starts
what an agent's `tools:` name and waits, up to a deadline, for them. A server that cannot
start, is too slow, or dies is one warning (`warnings`, and `on_warning` if given); its
tools are then unavailable and a call to one is an error result. The run goes on.

The SDK's transports and sessions are anyio task groups, which must be entered and left by
the same task: each server runs in its own task that enters them, lists the tools, then
serves calls handed to it through a queue, each answered through a future. `aclose()` asks
every task to leave its context managers (closing the session and stopping the process)
and waits for it, with a deadline.

The SDK is imported only when a server starts, so importing the engine stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from paracle_engine.errors import one_line
from paracle_engine.tools.base import ToolContext, ToolOutput, cap_result
from paracle_engine.tools.mcp_config import McpConfig, McpServerConfig, load_mcp_config

if TYPE_CHECKING:
    import anyio

DEFAULT_START_TIMEOUT = 10.0
DEFAULT_CALL_TIMEOUT = 120.0
# How long aclose waits for one server to close its session and stop its process.
DEFAULT_CLOSE_TIMEOUT = 10.0
# What of the parent environment a stdio server sees, besides its entry's `env`. The SDK
# adds its own short list (HOME, LOGNAME, PATH, SHELL, TERM, USER) and nothing else.
PASSED_ENV = ("PATH", "HOME", "LANG")
PREFIX = "mcp__"
_STDERR_TAIL = 400
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")

Warn = Callable[[str], None]


def tool_name(server: str, tool: str) -> str:
    """The name the model sees for `tool` of `server`: `mcp__SERVER__TOOL`, safe characters."""
    return f"{PREFIX}{_NAME_CHARS.sub('_', server)}__{_NAME_CHARS.sub('_', tool)}"


def split_name(name: str) -> tuple[str, str | None] | None:
    """`mcp__S__T` as (S, T), `mcp__S` as (S, None); None for a name that is not MCP's."""
    if not name.startswith(PREFIX) or len(name) == len(PREFIX):
        return None
    server, sep, tool = name[len(PREFIX) :].partition("__")
    if not server:
        return None
    return (server, tool) if sep and tool else (server, None)


def expand_mcp_names(names: Iterable[str], available: Iterable[str]) -> list[str]:
    """The registered MCP tool names an agent's `tools:` ask for, in order, each once.

    `mcp__S` means every tool of server S in `available`; `mcp__S__T` means itself if it is
    there. Other names are not MCP's and give nothing (see `tools.names.tools_for`).
    """
    pool = list(available)
    found: list[str] = []
    for name in names:
        parts = split_name(name)
        if parts is None:
            continue
        server, tool = parts
        if tool is None:
            prefix = f"{PREFIX}{server}__"
            matches = [n for n in pool if n.startswith(prefix)]
        else:
            matches = [name] if name in pool else []
        found.extend(m for m in matches if m not in found)
    return found


def _size(data: str) -> int:
    """The byte size of base64 `data`, without decoding it."""
    data = data.strip()
    return max(0, len(data) * 3 // 4 - (len(data) - len(data.rstrip("="))))


def result_text(result: Any) -> str:
    """A `CallToolResult`'s content as the text a model reads.

    Text is joined by newlines; anything else is one line saying what it was
    ("[image: image/png, 68 bytes]"). With no content, the structured content as JSON.
    """
    parts: list[str] = []
    for item in result.content or ():
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {item.mime_type}, {_size(item.data)} bytes]")
        elif kind == "resource_link":
            parts.append(f"[resource: {item.uri}" + (f", {item.name}]" if item.name else "]"))
        elif kind == "resource":
            resource = item.resource
            text = getattr(resource, "text", None)
            if text is not None:
                parts.append(text)
            else:
                mime = resource.mime_type or "application/octet-stream"
                parts.append(f"[resource: {resource.uri}, {mime}, {_size(resource.blob)} bytes]")
        else:
            parts.append(f"[{kind or 'content'}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


@dataclass(frozen=True)
class McpTool:
    """One tool of one MCP server, as a `Tool`: its call goes to the server's task."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    server: str
    remote_name: str
    _manager: McpManager = field(repr=False, compare=False)

    async def call(self, arguments: Mapping[str, Any], context: ToolContext) -> ToolOutput:
        result = await self._manager.call(self.server, self.remote_name, arguments)
        return cap_result(result, context.max_result_bytes)


@dataclass(eq=False)
class _Job:
    tool: str
    arguments: dict[str, Any]
    future: asyncio.Future[ToolOutput]
    scope: anyio.CancelScope | None = None


class _Dead(Exception):
    """The server's connection is gone."""


class _Server:
    """One server: its config, state, listed tools, and the task that owns its session."""

    def __init__(self, config: McpServerConfig, manager: McpManager) -> None:
        self.config = config
        self.manager = manager
        self.state = "idle"  # idle, starting, ready, failed, closed
        self.tools: dict[str, McpTool] = {}
        self.ready = asyncio.Event()  # set once ready or failed: the start is over
        self.problem: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.scope: anyio.CancelScope | None = None
        self.stderr: IO[bytes] | None = None
        self.pending: set[_Job] = set()

    def start(self) -> None:
        if self.task is not None or self.state != "idle":
            return
        self.state = "starting"
        self.task = asyncio.create_task(self._run(), name=f"mcp server {self.config.name}")

    def fail(self, why: str) -> None:
        """The server is unusable from now: one warning, its tools gone, waiters released."""
        if self.state in ("failed", "closed"):
            return
        self.state = "failed"
        self.problem = why
        self.tools = {}
        self.ready.set()
        self.manager.warn(f"MCP server {self.config.name!r} unavailable: {why}")
        for job in list(self.pending):
            if not job.future.done():
                job.future.set_result(ToolOutput.error(self.unavailable()))

    def unavailable(self) -> str:
        return f"MCP server {self.config.name!r} is unavailable: {self.problem or self.state}"

    async def _stderr_tail(self) -> str:
        handle = self.stderr
        if handle is None:
            return ""

        def tail() -> str:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _STDERR_TAIL))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
            return lines[-1].strip() if lines else ""

        try:
            return await asyncio.wait_for(asyncio.to_thread(tail), 2.0)
        except (OSError, TimeoutError):
            return ""

    def _environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update(self.config.env)
        return env

    def _transport(self) -> Any:
        config = self.config
        if config.command is not None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env=self._environment(),
                cwd=self.manager.root,
            )
            return stdio_client(params, errlog=self.stderr)  # type: ignore[arg-type]
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert config.url is not None
        timeout = httpx2.Timeout(30.0, read=max(300.0, self.manager.call_timeout))
        client = httpx2.AsyncClient(headers=dict(config.headers), timeout=timeout)
        return _HttpTransport(client, streamable_http_client(config.url, http_client=client))

    async def _run(self) -> None:
        import anyio
        from mcp.client import Client

        try:
            if self.config.command is not None:
                self.stderr = await asyncio.to_thread(tempfile.TemporaryFile)
            with anyio.CancelScope() as scope:
                self.scope = scope
                async with contextlib.AsyncExitStack() as stack:
                    client = await stack.enter_async_context(
                        Client(self._transport(), cache=None, client_info=None)
                    )
                    await self._list(client)
                    async with anyio.create_task_group() as group:
                        while True:
                            job = await self.jobs.get()
                            if job is None:
                                break
                            group.start_soon(self._serve, client, job)
                        group.cancel_scope.cancel()
        except Exception as exc:
            detail = _describe(exc)
            tail = await self._stderr_tail()
            self.fail(f"{detail} ({tail})" if tail and tail not in detail else detail)
        finally:
            if self.state == "starting":
                self.fail("stopped before it listed its tools")
            if self.stderr is not None:
                self.stderr.close()
            for job in list(self.pending):
                if not job.future.done():
                    job.future.set_result(ToolOutput.error(self.unavailable()))

    async def _list(self, client: Any) -> None:
        tools: dict[str, McpTool] = {}
        cursor: str | None = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                name = tool_name(self.config.name, tool.name)
                if name in tools:
                    self.manager.warn(
                        f"MCP server {self.config.name!r}: tool {tool.name!r} left out "
                        f"(its name {name!r} is taken)"
                    )
                    continue
                tools[name] = McpTool(
                    name=name,
                    description=tool.description or tool.title or "",
                    input_schema=dict(tool.input_schema or {"type": "object"}),
                    server=self.config.name,
                    remote_name=tool.name,
                    _manager=self.manager,
                )
            cursor = page.next_cursor
            if cursor is None:
                break
        if self.state != "starting":
            return
        self.tools = tools
        self.state = "ready"
        self.ready.set()

    async def _serve(self, client: Any, job: _Job) -> None:
        import anyio

        with anyio.CancelScope() as scope:
            job.scope = scope
            if job.future.done():
                return
            try:
                result = await client.call_tool(job.tool, job.arguments)
                output = ToolOutput(content=result_text(result), is_error=bool(result.is_error))
            except Exception as exc:
                output = ToolOutput.error(f"{job.tool} failed: {_describe(exc)}")
                if _connection_lost(exc):
                    self.fail(f"the connection ended ({_describe(exc)})")
                    output = ToolOutput.error(self.unavailable())
            if not job.future.done():
                job.future.set_result(output)

    async def call(self, tool: str, arguments: Mapping[str, Any], deadline: float) -> ToolOutput:
        if self.state != "ready" or self.task is None or self.task.done():
            return ToolOutput.error(self.unavailable())
        job = _Job(tool, dict(arguments), asyncio.get_running_loop().create_future())
        self.pending.add(job)
        try:
            self.jobs.put_nowait(job)
            async with asyncio.timeout(deadline):
                return await asyncio.shield(job.future)
        except TimeoutError:
            return ToolOutput.error(f"{tool}: no answer from MCP server within {deadline:g} s")
        finally:
            self.pending.discard(job)
            if job.scope is not None and not job.future.done():
                job.scope.cancel()
            if not job.future.done():
                job.future.cancel()

    async def close(self, deadline: float) -> None:
        task = self.task
        self.state = "closed"
        self.tools = {}
        self.ready.set()
        if task is None:
            return
        if not task.done():
            self.jobs.put_nowait(None)
            done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done and self.scope is not None:
                self.scope.cancel()
                done, _ = await asyncio.wait({task}, timeout=deadline)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=deadline)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so nothing is logged at collection


class _HttpTransport(contextlib.AbstractAsyncContextManager[Any]):
    """The streamable HTTP transport with the HTTP client it uses, closed after it."""

    def __init__(self, client: Any, transport: Any) -> None:
        self._client = client
        self._transport = transport

    async def __aenter__(self) -> Any:
        await self._client.__aenter__()
        try:
            return await self._transport.__aenter__()
        except BaseException:
            await self._client.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            return await self._transport.__aexit__(*exc)  # type: ignore[no-any-return]
        finally:
            await self._client.__aexit__(None, None, None)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _describe(exc: BaseException) -> str:
    """An exception (or the first of a group) as one line."""
    leaves = _leaves(exc)
    first = leaves[0] if leaves else exc
    if isinstance(first, FileNotFoundError) and first.filename:
        return f"command not found: {first.filename}"
    return one_line(first)


def _connection_lost(exc: BaseException) -> bool:
    import anyio

    for leaf in _leaves(exc):
        if isinstance(leaf, anyio.ClosedResourceError | anyio.BrokenResourceError | OSError):
            return True
        if "closed" in str(leaf).lower() and "connection" in str(leaf).lower():
            return True
    return False


class McpManager:
    """The MCP servers of a run (or an engine): started on demand, closed together.

    `servers` are the configured servers by name (`load_mcp_config(root).servers`); `root`
    is the working folder of stdio servers. `start_timeout` bounds a server's start and
    tool listing, `call_timeout` one tool call. Warnings go to `warnings` and `on_warning`.
    """

    def __init__(
        self,
        servers: Mapping[str, McpServerConfig],
        *,
        root: Path | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        on_warning: Warn | None = None,
    ) -> None:
        self.root = root
        self.start_timeout = start_timeout
        self.call_timeout = call_timeout
        self.close_timeout = close_timeout
        self.warnings: list[str] = []
        self._on_warning = on_warning
        self._servers = {name: _Server(config, self) for name, config in servers.items()}
        self._keys = {_NAME_CHARS.sub("_", name): name for name in servers}
        self._warned: set[str] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        environ: Mapping[str, str] | None = None,
        on_warning: Warn | None = None,
        **options: Any,
    ) -> McpManager:
        """A manager for the servers configured at project `root`; config warnings included.

        Nothing starts yet. The files are read off the loop, under a deadline.
        """
        config: McpConfig = await asyncio.wait_for(
            asyncio.to_thread(load_mcp_config, root, environ), DEFAULT_START_TIMEOUT
        )
        manager = cls(config.servers, root=root, on_warning=on_warning, **options)
        for warning in config.warnings:
            manager.warn(warning)
        return manager

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self._on_warning is not None:
            try:
                self._on_warning(message)
            except Exception:  # a front's failing callback must not stop a server's task
                pass

    def names(self) -> list[str]:
        """The configured server names."""
        return list(self._servers)

    def state(self, name: str) -> str | None:
        """idle, starting, ready, failed or closed; None for a server not configured."""
        server = self._servers.get(name)
        return server.state if server is not None else None

    def _find(self, key: str) -> _Server | None:
        name = self._keys.get(key, key)
        server = self._servers.get(name)
        if server is None and key not in self._warned:
            self._warned.add(key)
            self.warn(f"MCP server {key!r} is not configured")
        return server

    def start(self, name: str) -> None:
        """Start server `name` in the background (no wait); again, or once closed, does nothing."""
        server = self._find(name)
        if server is not None and not self._closed:
            server.start()

    def start_all(self) -> None:
        for name in self._servers:
            self.start(name)

    def tools(self, name: str | None = None) -> list[McpTool]:
        """The tools listed so far, of server `name` or of every server; none from a failed one."""
        servers = [self._servers[name]] if name in self._servers else []
        if name is None:
            servers = list(self._servers.values())
        return [tool for server in servers for tool in server.tools.values()]

    async def wait_ready(self, names: Iterable[str], deadline: float | None = None) -> None:
        """Start the named servers and wait until each is ready or failed, or the deadline.

        A server still starting at the deadline is failed: one warning, its start abandoned.
        """
        servers = []
        for name in dict.fromkeys(names):
            server = self._find(name)
            if server is not None:
                self.start(name)
                servers.append(server)
        waits = [asyncio.ensure_future(s.ready.wait()) for s in servers if not s.ready.is_set()]
        if not waits:
            return
        limit = self.start_timeout if deadline is None else deadline
        try:
            await asyncio.wait(waits, timeout=limit)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        for server in servers:
            if server.state == "starting":
                server.fail(f"no answer within {limit:g} s")
                if server.scope is not None:
                    server.scope.cancel()

    async def tools_for(self, names: Iterable[str], deadline: float | None = None) -> list[McpTool]:
        """The MCP tools an agent's `tools:` name, their servers started and waited for.

        `mcp__S` is every tool of S, `mcp__S__T` one; other names are ignored. A tool a
        ready server does not offer is a warning.
        """
        wanted = [(name, parts) for name in names if (parts := split_name(name)) is not None]
        await self.wait_ready([server for _, (server, _) in wanted], deadline)
        by_name = {tool.name: tool for tool in self.tools()}
        picked = expand_mcp_names([name for name, _ in wanted], by_name)
        for name, (server_key, tool) in wanted:
            server = self._servers.get(self._keys.get(server_key, server_key))
            if tool is not None and server is not None and server.state == "ready":
                if name not in by_name and name not in self._warned:
                    self._warned.add(name)
                    self.warn(f"MCP server {server.config.name!r} has no tool {tool!r}")
        return [by_name[name] for name in picked]

    async def call(self, server: str, tool: str, arguments: Mapping[str, Any]) -> ToolOutput:
        """Call `tool` on `server`; a server not ready, gone or silent gives an error result."""
        owner = self._servers.get(server)
        if owner is None:
            return ToolOutput.error(f"MCP server {server!r} is not configured")
        return await owner.call(tool, arguments, self.call_timeout)

    async def aclose(self) -> None:
        """Close every session and stop every server process; each within `close_timeout`."""
        self._closed = True
        await asyncio.gather(*(s.close(self.close_timeout) for s in self._servers.values()))

    async def __aenter__(self) -> McpManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
