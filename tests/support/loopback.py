"""A scripted HTTP/1.1 server on 127.0.0.1 for tests that need real wire bytes.

Stdlib only (``asyncio.start_server``). It answers from a script, records every request,
and notices when a client hangs up in the middle of a response. Tests import it as
``support.loopback`` (pytest puts ``tests/`` on the path for ``tests/conftest.py``), or take
the ``loopback`` fixture (a started server) and ``fixtures_dir`` (the recorded wire bytes).

Quick tour::

    from support.loopback import STALL, LoopbackServer, Response, sse_event

    async with LoopbackServer() as srv:                 # srv.url == "http://127.0.0.1:<port>"
        srv.enqueue(Response.from_fixture(FIXTURES / "anthropic" / "stream-text.sse"))
        srv.enqueue(Response.json({"ok": True}, status=201))
        srv.default = Response(status=500, body=b"boom")  # once the queue is empty
        ...
        srv.requests[0].method, .path, .headers["x-api-key"], .json   # what clients sent
        await srv.wait_for_disconnect()                  # the client hung up mid-response

Script
    ``srv.enqueue(*responses)`` queues answers, used once each in order. ``srv.default`` answers
    when the queue is empty: a ``Response`` or a callable ``(RecordedRequest) -> Response``.
    With neither, the server answers 404 ``no scripted response``.

``Response(status, headers, body, delay, chunked, drop_after, reason)``
    ``body`` is ``bytes`` (sent with Content-Length) or a list of chunks (sent with
    ``Transfer-Encoding: chunked``; force either way with ``chunked=True/False``). In a chunk
    list, a ``float`` is a pause in seconds and ``STALL`` holds the connection open without
    sending anything more until the client leaves or the server stops. ``delay`` pauses before
    every chunk but the first. ``drop_after=N`` closes the connection once N body bytes went out
    (0: right after the headers). A ``Content-Length`` or ``Transfer-Encoding`` you put in
    ``headers`` yourself is sent as is, so lying framing is easy too.

Builders for misbehaving servers
    ``Response.json(obj, status=429, headers={"retry-after": "2"})``  an error answer
    ``Response.sse([sse_event({...}, event="error")])``               an SSE stream, one chunk per event
    ``Response.sse([b"data: {not json\\n\\n"])``                       a malformed line, raw
    ``Response.stalled()``                                           200 event-stream, then silence
    ``resp.stalling_after(2)``                                       the first 2 chunks, then silence
    ``Response.from_fixture(path)``   ``.sse`` -> 200 text/event-stream, one chunk per event;
                                      ``.http`` -> status line, headers and body as written;
                                      ``.json`` -> 200 application/json. Keyword arguments
                                      override fields: ``from_fixture(p, delay=0.05)``.

Records
    ``srv.requests``: every ``RecordedRequest`` (method, path, headers with lower-case names,
    body bytes, ``json`` or None, ``connection`` number). ``srv.connections``: connections
    accepted (httpx keeps them alive, so two calls on one pooled client show 1).
    ``srv.disconnects``: requests whose response the client abandoned before its end.
    ``await srv.wait_for_requests(n)`` and ``await srv.wait_for_disconnect(n)`` wait up to
    ``within`` seconds (5 by default) and raise ``TimeoutError`` after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any


class _Stall:
    def __repr__(self) -> str:
        return "STALL"


#: In a chunk list: send nothing more, hold the connection open until the client leaves.
STALL = _Stall()

Chunk = bytes | float | _Stall


def sse_event(data: str | dict[str, Any] | list[Any], event: str | None = None) -> bytes:
    """One SSE event as wire bytes; a dict or list is sent as compact JSON."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


@dataclass
class Response:
    """One scripted answer. See the module docstring for every field."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Sequence[Chunk] = b""
    delay: float = 0.0
    chunked: bool | None = None
    drop_after: int | None = None
    reason: str | None = None

    @classmethod
    def json(
        cls, obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        """A JSON answer, e.g. an error body with a retry-after header."""
        return cls(
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            body=json.dumps(obj).encode(),
        )

    @classmethod
    def sse(
        cls, events: Sequence[Chunk], *, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        """A text/event-stream answer sent chunked, one list item per chunk."""
        return cls(
            status=status,
            headers={
                "content-type": "text/event-stream",
                "cache-control": "no-cache",
                **(headers or {}),
            },
            body=list(events),
        )

    @classmethod
    def stalled(cls, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """Headers of an event stream, then nothing at all."""
        return cls.sse([STALL], status=status, headers=headers)

    @classmethod
    def from_fixture(cls, path: str | Path, **changes: Any) -> Response:
        """Serve a fixture file's exact bytes: ``.sse``, ``.http`` or ``.json``."""
        path = Path(path)
        raw = path.read_bytes()
        if path.suffix == ".sse":
            resp = cls.sse(split_events(raw))
        elif path.suffix == ".http":
            resp = parse_http_response(raw)
        elif path.suffix == ".json":
            resp = cls(headers={"content-type": "application/json"}, body=raw)
        else:
            raise ValueError(f"unknown fixture kind: {path.name}")
        return replace(resp, **changes)

    def stalling_after(self, chunks: int) -> Response:
        """This answer cut to its first ``chunks`` byte chunks, then silence."""
        items = self._items()
        kept: list[Chunk] = []
        sent = 0
        for item in items:
            if sent == chunks:
                break
            kept.append(item)
            sent += isinstance(item, bytes)
        return replace(
            self, body=[*kept, STALL], chunked=True if self.chunked is None else self.chunked
        )

    def _items(self) -> list[Chunk]:
        if isinstance(self.body, bytes | bytearray):
            return [bytes(self.body)] if self.body else []
        return list(self.body)

    def _is_chunked(self) -> bool:
        if self.chunked is not None:
            return self.chunked
        return not isinstance(self.body, bytes | bytearray)


def split_events(raw: bytes) -> list[bytes]:
    """Split SSE bytes after each blank line, keeping every byte (CRLF or LF)."""
    return [part for part in re.split(rb"(?<=\n\n)|(?<=\r\n\r\n)", raw) if part]


def parse_http_response(raw: bytes) -> Response:
    """Parse a status line, header lines, a blank line and a body (LF or CRLF)."""
    match = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")
    lines = head.decode("latin-1").splitlines()
    _version, status, *reason = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(
        status=int(status), headers=headers, body=body, reason=reason[0] if reason else None
    )


@dataclass
class RecordedRequest:
    """What a client sent. Header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int
    json: Any = None
    # time.monotonic() when the request was read, to check a client waited as told.
    received_at: float = field(default_factory=time.monotonic)


class _Connection:
    """One accepted socket: a reader pump that also notices when the client leaves."""

    def __init__(self, number: int, reader: asyncio.StreamReader) -> None:
        self.number = number
        self.buffer = bytearray()
        self.closed = asyncio.Event()  # the client closed its side (EOF or reset)
        self._more = asyncio.Event()
        self._pump = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(65536):
                self.buffer += data
                self._more.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self._more.set()

    async def read_until(self, sep: bytes) -> bytes | None:
        while (i := self.buffer.find(sep)) < 0:
            if self.closed.is_set():
                return None
            self._more.clear()
            await self._more.wait()
        out = bytes(self.buffer[: i + len(sep)])
        del self.buffer[: i + len(sep)]
        return out

    async def read_exactly(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if self.closed.is_set():
                return None
            self._more.clear()
            await self._more.wait()
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    async def left_within(self, seconds: float | None) -> bool:
        """Wait up to ``seconds`` (None: forever); True if the client left meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), seconds)
        return self.closed.is_set()

    async def stop(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump


class LoopbackServer:
    """A scripted HTTP/1.1 server on 127.0.0.1 with keep-alive. Use as ``async with``."""

    def __init__(
        self,
        *responses: Response,
        default: Response | Callable[[RecordedRequest], Response] | None = None,
    ) -> None:
        self.queue: deque[Response] = deque(responses)
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[RecordedRequest] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *responses: Response) -> None:
        """Answer the next requests with these, in order."""
        self.queue.extend(responses)

    async def __aenter__(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for_requests(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until ``count`` requests have arrived; TimeoutError after ``within`` s."""
        await self._wait(lambda: len(self.requests) >= count, within)

    async def wait_for_disconnect(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until clients abandoned ``count`` responses mid-way; TimeoutError after ``within`` s."""
        await self._wait(lambda: len(self.disconnects) >= count, within)

    async def _wait(self, done: Callable[[], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    def _note(self) -> None:
        self._changed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        conn = _Connection(self.connections, reader)
        try:
            while (request := await self._read_request(conn)) is not None:
                self.requests.append(request)
                self._note()
                keep_alive = await self._answer(conn, writer, request)
                if not keep_alive or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping: either way this socket is done
        finally:
            await conn.stop()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _read_request(self, conn: _Connection) -> RecordedRequest | None:
        head = await conn.read_until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await conn.read_exactly(int(headers["content-length"])) or b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(conn)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        return RecordedRequest(method, path, headers, body, conn.number, parsed)

    async def _read_chunked(self, conn: _Connection) -> bytes:
        body = bytearray()
        while (size_line := await conn.read_until(b"\r\n")) is not None:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await conn.read_until(b"\r\n")
                break
            body += (await conn.read_exactly(size + 2) or b"")[:size]
        return bytes(body)

    def _pick(self, request: RecordedRequest) -> Response:
        if self.queue:
            return self.queue.popleft()
        if callable(self.default):
            return self.default(request)
        if self.default is not None:
            return self.default
        return Response(
            status=404, headers={"content-type": "text/plain"}, body=b"no scripted response"
        )

    async def _answer(
        self, conn: _Connection, writer: asyncio.StreamWriter, request: RecordedRequest
    ) -> bool:
        """Send one response; False when the connection must not be used again."""
        resp = self._pick(request)
        items = resp._items()
        chunked = resp._is_chunked()
        headers = dict(resp.headers)
        names = {name.lower() for name in headers}
        if "content-length" not in names and "transfer-encoding" not in names:
            if chunked:
                headers["transfer-encoding"] = "chunked"
            else:
                headers["content-length"] = str(sum(len(i) for i in items if isinstance(i, bytes)))
        reason = resp.reason or _reason(resp.status)
        head = f"HTTP/1.1 {resp.status} {reason}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        try:
            writer.write(head.encode("latin-1"))
            await writer.drain()
            sent = 0
            first = True
            for item in items:
                if isinstance(item, _Stall):
                    await conn.left_within(None)
                    return self._abandoned(request)
                if isinstance(item, float | int):
                    if await conn.left_within(float(item)):
                        return self._abandoned(request)
                    continue
                if not first and resp.delay and await conn.left_within(resp.delay):
                    return self._abandoned(request)
                first = False
                if resp.drop_after is not None and sent + len(item) >= resp.drop_after:
                    item = item[: resp.drop_after - sent]
                if item:
                    writer.write(b"%x\r\n%s\r\n" % (len(item), item) if chunked else item)
                    await writer.drain()
                    sent += len(item)
                if resp.drop_after is not None and sent >= resp.drop_after:
                    return False
                if conn.closed.is_set():
                    return self._abandoned(request)
            if resp.drop_after is not None:
                return False
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, OSError):
            return self._abandoned(request)
        return headers.get("connection", "").lower() != "close"

    def _abandoned(self, request: RecordedRequest) -> bool:
        self.disconnects.append(request)
        self._note()
        return False


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return {529: "Overloaded"}.get(status, "Unknown")
