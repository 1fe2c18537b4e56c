"""The simulated provider: deterministic, offline, paced, and honest about being simulated."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import types

import pytest

from paracle_engine.models import CompletionRequest, Message, StreamChunk
from paracle_engine.providers import simulated
from paracle_engine.providers.base import LLMProvider
from paracle_engine.providers.simulated import SimulatedProvider, simulated_answer

PROMPT = "Draft a release checklist for the Paracle terminal app covering packaging and docs"


def request(prompt: str = PROMPT, **kw: object) -> CompletionRequest:
    return CompletionRequest(model=kw.pop("model", "sim"), messages=[Message("user", prompt)], **kw)  # type: ignore[arg-type]


async def drain(provider: SimulatedProvider, req: CompletionRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(req)]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Pauses the provider asks for, recorded instead of slept (the loop still turns)."""
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float) -> None:
        asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(simulated, "asyncio", types.SimpleNamespace(sleep=record))
    return asked


async def test_same_request_same_answer_and_different_prompt_different_answer() -> None:
    provider = SimulatedProvider(pace=0)
    first = await drain(provider, request())
    assert await drain(provider, request()) == first
    other = await provider.complete(
        request("Summarise the incident report about the database outage")
    )
    assert other.text != "".join(c.text for c in first)


async def test_answer_quotes_the_task_and_says_it_is_simulated() -> None:
    result = await SimulatedProvider(pace=0).complete(request())
    assert f"> {PROMPT}" in result.text
    assert "simulated" in result.text.lower()
    assert result.provider == "simulated"
    assert result.text.count("\n- ") >= 3


async def test_output_keys_end_the_answer_with_a_json_object_of_exactly_those_keys() -> None:
    keys = ["summary", "risks", "risk_count", "is_ready"]
    result = await SimulatedProvider(pace=0).complete(request(output_keys=keys))
    match = re.search(r"```json\n(.*)\n```\s*$", result.text, re.S)
    assert match is not None
    values = json.loads(match.group(1))
    assert list(values) == keys
    assert isinstance(values["summary"], str) and values["summary"]
    assert isinstance(values["risks"], list)
    assert isinstance(values["risk_count"], int)
    assert isinstance(values["is_ready"], bool)
    assert "```json" not in (await SimulatedProvider(pace=0).complete(request())).text


async def test_stream_is_cut_in_chunk_chars_pieces_and_ends_with_usage() -> None:
    provider = SimulatedProvider(pace=0, chunk_chars=7)
    chunks = await drain(provider, request())
    answer = simulated_answer(request())
    texts = [c.text for c in chunks[:-1]]
    assert "".join(texts) == answer
    assert len(texts) == math.ceil(len(answer) / 7)
    assert all(0 < len(t) <= 7 for t in texts)
    last = chunks[-1]
    assert last.text == "" and last.stop_reason == "end_turn"
    assert last.usage is not None
    assert last.usage.output_tokens == math.ceil(len(answer) / 4)
    assert last.usage.input_tokens == math.ceil(len(PROMPT) / 4)


async def test_pace_is_the_pause_between_chunks(sleeps: list[float]) -> None:
    provider = SimulatedProvider(pace=0.05, chunk_chars=12)
    chunks = await drain(provider, request())
    text_chunks = len(chunks) - 1
    assert sleeps == [0.0] + [0.05] * (text_chunks - 1)


async def test_sim_ms_model_spreads_its_duration_over_the_stream(sleeps: list[float]) -> None:
    provider = SimulatedProvider(pace=5.0)  # ignored by the directive
    await drain(provider, request(model="sim-250ms"))
    assert sum(sleeps) == pytest.approx(0.25)
    assert sleeps[0] == 0.0 and len(set(sleeps[1:])) == 1


async def test_pace_zero_still_yields_to_the_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    start = ticks
    chunks = await drain(SimulatedProvider(pace=0), request())
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert ticks - start >= len(chunks) // 2


async def test_cancelling_a_slow_stream_stops_it() -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in SimulatedProvider(pace=3600).stream(request()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_identity() -> None:
    provider = SimulatedProvider()
    assert isinstance(provider, LLMProvider)
    assert (provider.name, provider.endpoint) == ("simulated", "simulated://local")
