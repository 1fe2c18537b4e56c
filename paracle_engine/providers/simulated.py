"""The simulated provider: offline, deterministic answers for demos, tests and benchmarks.

The same request always gets the same answer, built from the prompt itself and streamed in
small chunks with a pause between them, so the whole app can be seen working without a key.
A model id like ``sim-250ms`` makes the whole stream take about 250 ms, whatever the pace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import AsyncGenerator
from typing import Any

from paracle_engine.models import CompletionRequest, CompletionResult, StreamChunk, Usage
from paracle_engine.providers.base import collect

_DURATION = re.compile(r"^sim-(\d+)ms$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{4,}")
_STOPWORDS = frozenset(
    "about above after again against because before being below between could doing during "
    "every further having their there these those through under until where which while would "
    "should other please write answer using given into with from that this what your".split()
)

_POINTS = (
    "Pin down what **{a}** has to achieve, and how you will know it did.",
    "List the constraints around **{b}** before choosing an approach.",
    "Start with the smallest version of **{a}** that can be checked end to end.",
    "Compare two options for **{b}** on cost, risk and time to first result.",
    "Write down the assumptions about **{c}** so they can be tested later.",
    "Name who depends on **{c}** and what they need from it first.",
    "Plan a quick review once **{a}** works, then tighten the details.",
    "Keep a short log of decisions about **{b}**: what, why, and what was rejected.",
)


def _seed(request: CompletionRequest) -> bytes:
    parts = [request.model, request.system, *(f"{m.role}:{m.content}" for m in request.messages)]
    return hashlib.sha256("\x1f".join(parts).encode()).digest()


def _keywords(text: str, seed: bytes) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(text):
        low = word.lower()
        if low not in _STOPWORDS and low not in words:
            words.append(low)
    words = words or ["the task", "the plan", "the result"]
    start = seed[0] % len(words)
    return [words[(start + i) % len(words)] for i in range(3)]


def _task(request: CompletionRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.content.strip():
            return " ".join(message.content.split())
    return "(no prompt)"


def _value_for(key: str, topic: str, seed: int) -> Any:
    """A plausible value for an output key, judged from its name."""
    low = key.lower()
    if low.startswith(("is_", "has_", "can_", "should_")) or low in (
        "ok",
        "valid",
        "approved",
        "passed",
    ):
        return seed % 2 == 0
    if any(
        part in low for part in ("count", "number", "num_", "total", "score", "rating", "priority")
    ):
        return 1 + seed % 9
    if low.endswith(("s", "_list")) and not low.endswith(("ss", "us", "status", "analysis")):
        return [f"{key} item {i + 1} for {topic}" for i in range(1 + seed % 3)]
    return f"Simulated {key.replace('_', ' ')} for {topic}"


def simulated_answer(request: CompletionRequest) -> str:
    """The full answer the simulated provider gives to ``request``."""
    seed = _seed(request)
    task = _task(request)
    quote = task if len(task) <= 160 else task[:157].rstrip() + "..."
    a, b, c = _keywords(task, seed)
    start = seed[3] % len(_POINTS)
    count = 3 + seed[4] % 2
    points = [_POINTS[(start + i) % len(_POINTS)].format(a=a, b=b, c=c) for i in range(count)]
    lines = [
        "## Simulated answer",
        "",
        f"> {quote}",
        "",
        f"Here is a short plan for **{a}** (simulated: no model was called).",
        "",
        *(f"- {p}" for p in points),
        "",
        "Run with a real provider for an actual answer.",
    ]
    if request.output_keys:
        topic = a
        values = {
            key: _value_for(key, topic, seed[(5 + i) % len(seed)])
            for i, key in enumerate(request.output_keys)
        }
        lines += ["", "```json", json.dumps(values, indent=2), "```"]
    return "\n".join(lines)


def estimate_tokens(text: str) -> int:
    """About four characters a token."""
    return max(1, math.ceil(len(text) / 4))


class SimulatedProvider:
    """Answers without a network, at ``pace`` seconds between ``chunk_chars``-sized chunks."""

    name = "simulated"
    endpoint = "simulated://local"

    def __init__(self, pace: float = 0.02, chunk_chars: int = 12) -> None:
        self.pace = max(0.0, pace)
        self.chunk_chars = max(1, chunk_chars)

    def chunks_of(self, text: str) -> list[str]:
        """How ``text`` is cut for streaming."""
        n = self.chunk_chars
        return [text[i : i + n] for i in range(0, len(text), n)]

    def pauses(self, request: CompletionRequest, chunk_count: int) -> list[float]:
        """Seconds to wait before each chunk: none before the first, ``pace`` between the
        others; a ``sim-<N>ms`` model spreads N ms over the gaps instead."""
        match = _DURATION.match(request.model)
        if match is None:
            return [0.0] + [self.pace] * (chunk_count - 1)
        total = int(match.group(1)) / 1000.0
        if chunk_count <= 1:
            return [total] * chunk_count
        return [0.0] + [total / (chunk_count - 1)] * (chunk_count - 1)

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield the answer chunk by chunk, then usage."""
        answer = simulated_answer(request)
        pieces = self.chunks_of(answer)
        for pause, piece in zip(self.pauses(request, len(pieces)), pieces, strict=True):
            # Even at pace 0 every chunk yields to the loop, so a stream never starves it.
            await asyncio.sleep(pause)
            yield StreamChunk(text=piece)
        prompt = request.system + "".join(m.content for m in request.messages)
        usage = Usage(estimate_tokens(prompt), estimate_tokens(answer))
        yield StreamChunk(usage=usage, stop_reason="end_turn")

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The streamed answer, collected (paced the same way)."""
        return await collect(self.stream(request), provider=self.name, model=request.model)

    async def aclose(self) -> None:
        """Nothing to close."""
