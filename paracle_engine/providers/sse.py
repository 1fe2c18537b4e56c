"""The Server-Sent Events parser for OpenAI-compatible streams (the one place SSE is read).

Follows the WHATWG rules: lines end in LF, CRLF or CR; ``:`` starts a comment; ``field: value``
drops one leading space; ``data`` lines join with newlines; a blank line ends an event; an
event without data is not dispatched. Lenient where servers are sloppy: a last event with no
blank line after it is still dispatched when the stream ends.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator, AsyncIterable
from typing import NamedTuple

_LINE_END = re.compile(r"\r\n|\r|\n")


class ServerSentEvent(NamedTuple):
    """One dispatched event; unpacks as ``(event, data)``."""

    event: str
    data: str


class _EventBuilder:
    """Collects field lines until a blank line dispatches an event."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # id and retry do not matter to a single request's stream

    def flush(self) -> ServerSentEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        return ServerSentEvent(event, "\n".join(data)) if data else None


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncGenerator[ServerSentEvent, None]:
    """Events from a byte stream (``httpx.Response.aiter_bytes()``), however it is split."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    builder = _EventBuilder()
    pending = ""
    first = True
    async for chunk in chunks:
        text = decoder.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        pending += text
        # A trailing CR may be the first half of a CRLF split across chunks.
        cut = len(pending) - 1 if pending.endswith("\r") else len(pending)
        *lines, rest = _LINE_END.split(pending[:cut])
        pending = rest + pending[cut:]
        for line in lines:
            if (event := builder.feed(line)) is not None:
                yield event
    pending += decoder.decode(b"", final=True)
    for line in _LINE_END.split(pending):
        if (event := builder.feed(line)) is not None:
            yield event
    if (event := builder.flush()) is not None:
        yield event


async def iter_sse_lines(lines: AsyncIterable[str]) -> AsyncGenerator[ServerSentEvent, None]:
    """Events from lines without their endings (``httpx.Response.aiter_lines()``)."""
    builder = _EventBuilder()
    async for line in lines:
        if (event := builder.feed(line.rstrip("\r\n"))) is not None:
            yield event
    if (event := builder.flush()) is not None:
        yield event
