"""The Server-Sent Events parser for both wire formats (the one place SSE is read).

Follows the WHATWG rules: lines end in LF, CRLF or CR; ``:`` starts a comment; ``field: value``
drops one leading space; ``data`` lines join with newlines; a blank line ends an event; an
event without data is not dispatched. Lenient where servers are sloppy: a last event with no
blank line after it is still dispatched when the stream ends, and invalid UTF-8 becomes
U+FFFD (``on_invalid_utf8`` hears of it once per call). Bounded where servers are hostile: an
event (or a line) longer than ``max_event_chars`` raises `EventTooLarge` instead of growing
a buffer without end.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import NamedTuple

_LINE_END = re.compile(r"\r\n|\r|\n")


class ServerSentEvent(NamedTuple):
    """One dispatched event; unpacks as ``(event, data)``."""

    event: str
    data: str


class EventTooLarge(ValueError):
    """One event (or one line) of the stream is longer than the parser was allowed to hold."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event of the stream is longer than {limit} characters")
        self.limit = limit


class Utf8Decoder:
    """Incremental UTF-8 that replaces invalid bytes with U+FFFD and says that it did.

    A U+FFFD the server sent as valid UTF-8 is text like any other: only bytes that do not
    decode set `replaced`.
    """

    def __init__(self) -> None:
        self._strict = codecs.getincrementaldecoder("utf-8")("strict")
        self.replaced = False

    def decode(self, data: bytes, final: bool = False) -> str:
        try:
            return self._strict.decode(data, final)
        except UnicodeDecodeError:
            # The strict decoder consumed nothing of `data`; decode it again, replacing, from
            # the same state, then carry on strictly from where the lenient one stopped.
            lenient = codecs.getincrementaldecoder("utf-8")("replace")
            lenient.setstate(self._strict.getstate())
            text = lenient.decode(data, final)
            self._strict.setstate(lenient.getstate())
            self.replaced = True
            return text


class _EventBuilder:
    """Collects field lines until a blank line dispatches an event."""

    def __init__(self, limit: int | None) -> None:
        self._event = ""
        self._data: list[str] = []
        self._size = 0
        self._limit = limit

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._limit is not None and self._size > self._limit:
                raise EventTooLarge(self._limit)
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # id and retry do not matter to a single request's stream

    def flush(self) -> ServerSentEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data, self._size = "", [], 0
        return ServerSentEvent(event, "\n".join(data)) if data else None


async def iter_sse(
    chunks: AsyncIterable[bytes],
    *,
    max_event_chars: int | None = None,
    on_invalid_utf8: Callable[[], None] | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    """Events from a byte stream (``httpx.Response.aiter_bytes()``), however it is split.

    ``max_event_chars`` bounds the text held for one event or one line (`EventTooLarge`);
    ``on_invalid_utf8`` is called the first time bytes had to be replaced with U+FFFD.
    """
    decoder = Utf8Decoder()
    builder = _EventBuilder(max_event_chars)
    # The line still being received, in pieces: joined once its end arrives, so a long line
    # sent in many small chunks costs one copy, not one per chunk.
    partial: list[str] = []
    partial_size = 0
    first = True
    warned = False

    def decode(chunk: bytes, final: bool = False) -> str:
        nonlocal warned
        text = decoder.decode(chunk, final)
        if decoder.replaced and not warned:
            warned = True
            if on_invalid_utf8 is not None:
                on_invalid_utf8()
        return text

    async for chunk in chunks:
        text = decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        if not text:
            continue
        ends_in_cr = bool(partial) and partial[-1].endswith("\r")
        if "\n" not in text and "\r" not in text and not ends_in_cr:
            partial.append(text)
            partial_size += len(text)
            if max_event_chars is not None and partial_size > max_event_chars:
                raise EventTooLarge(max_event_chars)
            continue
        pending = "".join(partial) + text
        # A trailing CR may be the first half of a CRLF split across chunks.
        cut = len(pending) - 1 if pending.endswith("\r") else len(pending)
        *lines, rest = _LINE_END.split(pending[:cut])
        rest += pending[cut:]
        partial, partial_size = ([rest], len(rest)) if rest else ([], 0)
        for line in lines:
            if (event := builder.feed(line)) is not None:
                yield event
        if max_event_chars is not None and partial_size > max_event_chars:
            raise EventTooLarge(max_event_chars)
    pending = "".join(partial) + decode(b"", final=True)
    for line in _LINE_END.split(pending):
        if (event := builder.feed(line)) is not None:
            yield event
    if (event := builder.flush()) is not None:
        yield event
