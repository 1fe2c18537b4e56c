"""What both wire formats check in a provider's answer before trusting it.

A 200 is not an answer yet: a captive portal, a misrouted proxy or another server on the
port sends HTML, plain text or nothing at all with a 200 too. `AnswerCheck` (one per call)
opens the body, decides from its content type (and, when that says nothing useful, from its
first bytes) whether it is an event stream or a JSON document, and refuses anything else
with an error that names the provider, the URL and what came back.

It also bounds what an answer may cost. The body is decompressed here, in pieces of at most
64 KiB, from the raw bytes (httpx inflates a whole network read at once, so a small gzip
body can become hundreds of megabytes before anyone looks at it). The decoded text of the
answer is capped (``providers.max_answer_chars`` in config.toml, 8 Mi characters by
default): past it the stream stops, the connection is closed and the step fails with the
text so far. One SSE event, or one JSON document, may not hold more than a few times the cap.

Both providers treat a sloppy stream the same way: invalid UTF-8 becomes U+FFFD and a data
line that is not JSON is skipped, each with one warning per answer on the
``paracle_engine.providers`` logger (the CLI prints warnings on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

from paracle_engine.errors import ProviderError
from paracle_engine.providers import http_status
from paracle_engine.providers.sse import EventTooLarge, ServerSentEvent, Utf8Decoder, iter_sse
from paracle_engine.terminal import terminal_safe_line

log = logging.getLogger("paracle_engine.providers")

#: The default cap on the decoded text of one answer, in characters.
DEFAULT_MAX_ANSWER_CHARS = 8 * 1024 * 1024
#: What providers are asked to compress with: the encodings `decoded` can undo in bounded
#: steps (an HTTP library would otherwise offer brotli or zstd whenever it can read them).
ACCEPT_ENCODING = "gzip, deflate"

_PIECE = 64 * 1024  # the most one decompression step may produce
_ERROR_BODY_LIMIT = 64 * 1024  # of an error answer, only this much is read
_SNIPPET = 80  # characters of an unexpected body quoted in the error
_SNIFF_WAIT = 1.0  # seconds to wait for the bytes of a snippet once the body is refused

_SSE_TYPES = ("text/event-stream",)
_JSON_TYPES = ("application/json",)
_MARKUP_TYPES = ("text/html", "application/xhtml+xml", "text/xml", "application/xml")
_SSE_STARTS = (b"data:", b"event:", b":", b"id:", b"retry:")


class HTTPResponse(Protocol):
    """What is read of an httpx (or the Anthropic SDK's httpx2) streamed response."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...


def event_limit(max_chars: int) -> int:
    """The most one SSE event or one JSON document may hold for an answer capped at
    ``max_chars``: JSON escapes a character in up to six, plus room for the envelope."""
    return 6 * max_chars + 64 * 1024


async def decoded(response: HTTPResponse) -> AsyncGenerator[bytes, None]:
    """The body's bytes with its Content-Encoding undone, in pieces of at most 64 KiB.

    gzip and deflate (in any chain) are inflated step by step, so memory stays bounded
    whatever the compression ratio; an encoding Paracle cannot undo is an error, not bytes
    read as if they were text.
    """
    header = response.headers.get("content-encoding", "") or ""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    source: AsyncIterator[bytes] = response.aiter_raw()
    for coding in reversed(codings):  # the last one listed was applied last
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise _BodyError(
                f"the body uses the content encoding {coding!r}, which Paracle cannot read"
            )
        source = _inflate(source, coding)
    async for piece in source:
        if piece:
            yield piece


class _BodyError(Exception):
    """The body cannot be decoded (a corrupt gzip stream, an unknown encoding)."""


async def _inflate(source: AsyncIterator[bytes], coding: str) -> AsyncGenerator[bytes, None]:
    gzip = coding != "deflate"
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    first = True
    try:
        async for data in source:
            while data:
                try:
                    out = inflater.decompress(data, _PIECE)
                except zlib.error:
                    if gzip or not first:
                        raise
                    # "deflate" is zlib-wrapped by the standard, raw by many servers.
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = inflater.decompress(data, _PIECE)
                first = False
                data = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:  # another gzip member follows
                    data = inflater.unused_data + data
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                if out:
                    yield out
        if tail := inflater.flush():
            yield tail
    except zlib.error as exc:
        raise _BodyError(f"the {coding} body does not decompress: {exc}") from exc


async def read_error_body(response: HTTPResponse) -> Any:
    """The first 64 KiB (decoded) of an error answer: parsed JSON, else text."""
    raw = bytearray()
    try:
        async with contextlib.aclosing(decoded(response)) as pieces:
            async for piece in pieces:
                raw += piece
                if len(raw) >= _ERROR_BODY_LIMIT:
                    break
    except _BodyError as exc:
        return str(exc)
    text = bytes(raw[:_ERROR_BODY_LIMIT]).decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def snippet(raw: bytes | str) -> str:
    """The first 80 characters of a body, on one line, safe for a terminal."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    cut = text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else "")
    return terminal_safe_line(cut)


class AnswerCheck:
    """The checks of one answer: its kind, its size, and one warning per kind of sloppiness.

    ``url`` is what errors name: the endpoint and the path that was asked.
    """

    def __init__(
        self,
        *,
        provider: str,
        endpoint: str,
        url: str,
        max_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        secret: str | None = None,
    ) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.url = url
        self.max_chars = max_chars
        self.secret = secret
        self.chars = 0
        self.yielded = False  # text reached the consumer
        self.over = False  # the last `take` hit the cap
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ size

    def take(self, text: str) -> str:
        """The part of ``text`` still under the cap; sets `over` when some had to go."""
        room = self.max_chars - self.chars
        if len(text) > room:
            self.over = True
            text = text[: max(room, 0)]
        self.chars += len(text)
        if text:
            self.yielded = True
        return text

    def count(self, size: int) -> None:
        """Count ``size`` characters of tool-call arguments against the cap (held, not yet
        given to the consumer); sets `over` past it."""
        self.chars += size
        if self.chars > self.max_chars:
            self.over = True

    def too_large(self, what: str | None = None) -> ProviderError:
        """The answer passed the cap: not retried (the same question gets the same answer)."""
        detail = what or f"the answer passed {self.max_chars} characters"
        return ProviderError(
            f"{self.provider} at {self.url}: {detail}; stopped reading it",
            provider=self.provider,
            endpoint=self.endpoint,
            error_type="too_large",
            should_retry=False,
            after_output=self.yielded,
            hint="raise providers.max_answer_chars in config.toml to allow longer answers",
        )

    # ------------------------------------------------------------------ warnings

    def warn_once(self, kind: str, message: str) -> None:
        """Log ``message`` the first time ``kind`` happens in this answer."""
        if kind in self._warned:
            return
        self._warned.add(kind)
        log.warning("%s at %s: %s", self.provider, self.url, message)

    def invalid_utf8(self) -> None:
        self.warn_once("utf-8", "the answer holds invalid UTF-8; it was replaced with U+FFFD")

    def garbage(self, data: str) -> None:
        self.warn_once("garbage", f"skipped stream data that is not a JSON object: {snippet(data)}")

    # ------------------------------------------------------------------ errors

    def malformed(self, detail: str) -> ProviderError:
        """Data that is not what the wire format promises; not retried."""
        return ProviderError(
            f"malformed stream data from {self.provider} at {self.url}: "
            f"{http_status.scrub(detail, self.secret)}",
            provider=self.provider,
            endpoint=self.endpoint,
            error_type="malformed",
            after_output=self.yielded,
        )

    def _unexpected(
        self, status: int, content_type: str, head: bytes, wanted: str
    ) -> ProviderError:
        # Not retried: a captive portal, a proxy or the wrong server answers every attempt
        # with the same page until a person logs in or fixes the base URL, so four attempts
        # with backoff would only delay this error by half a minute. A transient fault of
        # the real provider looks different (a 5xx, a dropped connection) and is retried.
        what = f"with {content_type}" if content_type else "with no content type"
        body = (
            f": {http_status.scrub(snippet(head), self.secret)}"
            if head.strip()
            else " and an empty body"
        )
        return ProviderError(
            f"{self.provider} at {self.url} answered {status} {what} instead of {wanted}{body}",
            provider=self.provider,
            endpoint=self.endpoint,
            status=status,
            error_type="unexpected_content",
            should_retry=False,
            hint="check the base URL: a captive portal, a proxy or another server answered "
            "instead of the provider",
        )

    # ------------------------------------------------------------------ reading

    async def open(self, response: HTTPResponse, *, wanted: str) -> Body:
        """The body of a successful answer, once it is known to be SSE or JSON.

        ``wanted`` ("sse" or "json") is what was asked for; the other kind is accepted too
        (servers ignore ``stream`` both ways), anything else raises a ProviderError.
        """
        content_type = str(response.headers.get("content-type", "") or "")
        kind = _declared(content_type)
        pieces = decoded(response)
        head = b""
        if kind is None and not _is_markup(content_type):
            # No useful content type: the first bytes decide. Read only until they can.
            try:
                async for piece in pieces:
                    head += piece
                    if len(head.lstrip()) >= 6 or b"\n" in head.lstrip():
                        break
            except _BodyError as exc:
                await _close(pieces)
                raise self.body_error(exc) from exc
            kind = _sniffed(head)
        if kind is None:
            with contextlib.suppress(TimeoutError, _BodyError):
                async with asyncio.timeout(_SNIFF_WAIT):
                    async for piece in pieces:
                        head += piece
                        if len(head) >= 4 * _SNIPPET:
                            break
            await _close(pieces)
            label = "an event stream" if wanted == "sse" else "a JSON answer"
            raise self._unexpected(response.status_code, content_type.strip(), head, label)
        return Body(self, pieces, head, kind)

    def body_error(self, exc: _BodyError) -> ProviderError:
        return self.malformed(str(exc))


class Body:
    """A successful answer's decoded body: `kind` is "sse" or "json"."""

    def __init__(
        self, check: AnswerCheck, pieces: AsyncGenerator[bytes, None], head: bytes, kind: str
    ) -> None:
        self._check = check
        self._pieces = pieces
        self._head = head
        self.kind = kind
        self.first = b""  # the first bytes, to quote when nothing readable came

    async def _all(self) -> AsyncGenerator[bytes, None]:
        if self._head:
            self.first = self._head[: 4 * _SNIPPET]
            yield self._head
        async for piece in self._pieces:
            if len(self.first) < 4 * _SNIPPET:
                self.first += piece[: 4 * _SNIPPET - len(self.first)]
            yield piece

    async def events(self) -> AsyncGenerator[ServerSentEvent, None]:
        """The SSE events, bounded in size; invalid UTF-8 warns once."""
        check = self._check
        source = self._all()
        events = iter_sse(
            source,
            max_event_chars=event_limit(check.max_chars),
            on_invalid_utf8=check.invalid_utf8,
        )
        try:
            async with contextlib.aclosing(events):
                async for event in events:
                    yield event
        except EventTooLarge as exc:
            raise check.too_large(f"one event of the stream passed {exc.limit} characters") from exc
        except _BodyError as exc:
            raise check.body_error(exc) from exc
        finally:
            await _close(source)
            await _close(self._pieces)

    async def json(self) -> Any:
        """The whole body as JSON, read up to the size limit."""
        check = self._check
        limit = event_limit(check.max_chars)
        raw = bytearray()
        try:
            async with contextlib.aclosing(self._all()) as pieces:
                async for piece in pieces:
                    raw += piece
                    if len(raw) > limit:
                        raise check.too_large(f"the JSON answer passed {limit} bytes")
        except _BodyError as exc:
            raise check.body_error(exc) from exc
        finally:
            await _close(self._pieces)
        decoder = Utf8Decoder()
        text = decoder.decode(bytes(raw), final=True)
        if decoder.replaced:
            check.invalid_utf8()
        try:
            return json.loads(text)
        except ValueError:
            raise check.malformed(f"expected a JSON answer, got {snippet(text)}") from None

    def nothing_readable(self) -> ProviderError:
        """The stream ended without one event the wire format knows."""
        what = f"got {snippet(self.first)}" if self.first.strip() else "the body was empty"
        return self._check.malformed(f"the stream held no answer: {what}")


def _declared(content_type: str) -> str | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _SSE_TYPES:
        return "sse"
    if media in _JSON_TYPES or media.endswith("+json"):
        return "json"
    return None


def _is_markup(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() in _MARKUP_TYPES


def _sniffed(head: bytes) -> str | None:
    start = head.lstrip()
    if start.startswith(b"\xef\xbb\xbf"):
        start = start[3:].lstrip()
    if start.startswith((b"{", b"[")):
        return "json"
    if start.startswith(_SSE_STARTS):
        return "sse"
    return None


async def _close(pieces: AsyncGenerator[bytes, None]) -> None:
    with contextlib.suppress(Exception):
        await pieces.aclose()
