"""The SSE parser: every line ending, comments, multi-line data, and any chunk split."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from paracle_engine.providers.sse import EventTooLarge, ServerSentEvent, iter_sse


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def parse(raw: bytes, *, step: int | None = None) -> list[ServerSentEvent]:
    parts = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    return [event async for event in iter_sse(_chunks(parts))]


STREAM = (
    b": keep-alive comment\n"
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"text": "h\xc3\xa9llo"}\n'
    b"\n"
    b"data: first line\n"
    b"data: second line\n"
    b"\n"
    b"data:no space\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    ("content_block_delta", '{"text": "héllo"}'),
    ("message", "first line\nsecond line"),
    ("message", "no space"),
    ("message", "[DONE]"),
]


async def test_events_comments_and_multiline_data() -> None:
    assert await parse(STREAM) == EXPECTED


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
async def test_crlf_and_cr_line_endings(ending: bytes) -> None:
    assert await parse(STREAM.replace(b"\n", ending)) == EXPECTED


@pytest.mark.parametrize("step", [1, 2, 3, 7])
async def test_any_split_of_the_bytes_gives_the_same_events(step: int) -> None:
    # Splits land inside UTF-8 sequences and between the CR and LF of a CRLF.
    assert await parse(STREAM, step=step) == EXPECTED
    assert await parse(STREAM.replace(b"\n", b"\r\n"), step=step) == EXPECTED


async def test_last_event_without_blank_line_is_still_dispatched() -> None:
    assert await parse(b"data: a\n\ndata: [DONE]") == [("message", "a"), ("message", "[DONE]")]


async def test_event_without_data_is_not_dispatched_and_bom_is_dropped() -> None:
    raw = b"\xef\xbb\xbfevent: ping\n\nid: 7\nretry: 10\ndata: x\n\n"
    assert await parse(raw) == [("message", "x")]


async def test_events_unpack_as_event_and_data() -> None:
    [(event, data)] = await parse(b"event: error\ndata: {}\n\n")
    assert (event, data) == ("error", "{}")


async def test_invalid_utf8_becomes_u_fffd_and_is_reported_once() -> None:
    raw = b'data: {"t": "a\xff\xfeb"}\n\ndata: "\xc3"\n\ndata: "\xe2\x82\xac"\n\n'
    calls: list[None] = []
    for step in (None, 1, 2):
        calls.clear()
        parts = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
        events = [
            e async for e in iter_sse(_chunks(parts), on_invalid_utf8=lambda: calls.append(None))
        ]
        assert [e.data for e in events] == ['{"t": "a\ufffd\ufffdb"}', '"\ufffd"', '"€"']
        assert len(calls) == 1


async def test_a_u_fffd_the_server_sent_is_not_invalid_utf8() -> None:
    calls: list[None] = []
    raw = 'data: "\ufffd"\n\n'.encode()
    events = [
        e
        async for e in iter_sse(
            _chunks([raw[:7], raw[7:]]), on_invalid_utf8=lambda: calls.append(None)
        )
    ]
    assert [e.data for e in events] == ['"\ufffd"'] and calls == []


@pytest.mark.parametrize(
    "parts",
    [
        [b"data: "] + [b"x" * 1000] * 200,  # one endless line in many chunks
        [b"data: " + b"x" * 300_000 + b"\n"],  # one long line in one chunk
        [b"data: xxxxxxxxxx\n"] * 20_000,  # an event of many lines that never ends
    ],
    ids=["endless-line", "long-line", "endless-event"],
)
async def test_an_event_longer_than_the_limit_raises_instead_of_growing(parts: list[bytes]) -> None:
    with pytest.raises(EventTooLarge):
        async for _ in iter_sse(_chunks(parts), max_event_chars=100_000):
            pass


async def test_events_under_the_limit_pass() -> None:
    parts = [b"data: " + b"x" * 90_000 + b"\n\n"] * 3
    events = [e async for e in iter_sse(_chunks(parts), max_event_chars=100_000)]
    assert [len(e.data) for e in events] == [90_000] * 3


async def test_a_cr_split_from_its_text_by_a_chunk_without_line_ends() -> None:
    assert await parse(b"data: a\r\rdata: bc\r\r", step=1) == [("message", "a"), ("message", "bc")]
    chunks = [b"data: a\r", b"\rdata: b", b"c\r", b"\r"]
    assert [e async for e in iter_sse(_chunks(chunks))] == [("message", "a"), ("message", "bc")]
    chunks = [b"data: a\r", b"data: b", b"c\r\r"]
    assert [e async for e in iter_sse(_chunks(chunks))] == [("message", "a\nbc")]
