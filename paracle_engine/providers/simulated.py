"""The simulated provider: offline, deterministic answers for demos, tests and benchmarks.

The same request always gets the same answer, built from the prompt itself and streamed in
small chunks with a pause between them, so the whole app can be seen working without a key.
A model id like ``sim-250ms`` makes the whole stream take about 250 ms, whatever the pace.

Tools. When the request offers tools, the simulated model follows a fixed two-turn script,
so a tool loop can be exercised offline:

1. No tool result in the conversation yet: it says which tool it will use and asks for one
   read-only call, then stops with ``tool_use``. If the task names a file (a word with an
   extension, like ``README.md`` or ``docs/guide.txt``) and ``read_file`` is offered, it
   calls ``read_file`` with that path (under the first required property of the tool's
   schema, else ``path``); otherwise, if ``list_files`` is offered, ``list_files {}``.
   Offered neither, it answers in text as without tools.
2. The last user turn carries tool results: it answers in text (``end_turn``), quoting each
   result (at most 12 lines of it), or saying the call failed for an error result, then the
   usual simulated plan.

Call ids are ``sim_call_<n>``, n counting the tool calls already in the conversation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import AsyncGenerator
from typing import Any

from paracle_engine.models import (
    CompletionRequest,
    CompletionResult,
    StreamChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from paracle_engine.providers.base import collect

_DURATION = re.compile(r"^sim-(\d+)ms$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{4,}")
# A file the task names: a relative path whose last part has an extension of 2+ characters.
_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.[A-Za-z0-9]{2,8})(?![\w/-])")
_QUOTED_LINES = 12
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


def tool_step(request: CompletionRequest) -> tuple[str, ToolCall | None]:
    """What the simulated model says to a request that offers tools: text and the tool call
    it asks for (None when it answers instead). See the module docstring for the script."""
    last = request.messages[-1] if request.messages else None
    if last is not None and last.tool_results:
        return _answer_with_results(request), None
    offered = {tool.name: tool for tool in request.tools}
    task = _task(request)
    made = sum(len(m.tool_calls) for m in request.messages)
    call_id = f"sim_call_{made + 1}"
    named = _FILE.search(task)
    if named and "read_file" in offered:
        path = named.group(1)
        key = _path_property(offered["read_file"])
        text = f"I will read `{path}` first (simulated: no model was called)."
        return text, ToolCall(call_id, "read_file", {key: path}, json.dumps({key: path}))
    if "list_files" in offered:
        text = "I will list the project's files first (simulated: no model was called)."
        return text, ToolCall(call_id, "list_files", {}, "{}")
    return simulated_answer(request), None


def _path_property(tool: ToolSpec) -> str:
    schema = tool.input_schema
    required = schema.get("required") if isinstance(schema, dict) else None
    if isinstance(required, list) and required and isinstance(required[0], str):
        return required[0]
    return "path"


def _answer_with_results(request: CompletionRequest) -> str:
    names = {c.id: c.name for m in request.messages for c in m.tool_calls}
    lines = ["## Simulated answer with tool results", ""]
    for result in request.messages[-1].tool_results:
        tool = names.get(result.tool_call_id, "a tool")
        if result.is_error:
            lines += [f"The call to `{tool}` failed: {' '.join(result.content.split())}", ""]
            continue
        body = result.content.splitlines() or [""]
        quoted = body[:_QUOTED_LINES]
        if len(body) > _QUOTED_LINES:
            quoted.append(f"... ({len(body) - _QUOTED_LINES} more lines)")
        lines += [f"`{tool}` returned:", "", *(f"> {line}".rstrip() for line in quoted), ""]
    return "\n".join(lines) + "\n" + simulated_answer(request)


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
        """Yield the answer chunk by chunk (and the tool call it asks for, if any), then usage."""
        call: ToolCall | None = None
        if request.tools:
            answer, call = tool_step(request)
        else:
            answer = simulated_answer(request)
        pieces = self.chunks_of(answer)
        for pause, piece in zip(self.pauses(request, len(pieces)), pieces, strict=True):
            # Even at pace 0 every chunk yields to the loop, so a stream never starves it.
            await asyncio.sleep(pause)
            yield StreamChunk(text=piece)
        if call is not None:
            await asyncio.sleep(0)
            yield StreamChunk(tool_call=call)
        prompt = request.system + "".join(
            m.content + "".join(r.content for r in m.tool_results) for m in request.messages
        )
        spent = answer + (call.raw_arguments if call is not None else "")
        usage = Usage(estimate_tokens(prompt), estimate_tokens(spent))
        yield StreamChunk(usage=usage, stop_reason="tool_use" if call is not None else "end_turn")

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The streamed answer, collected (paced the same way)."""
        return await collect(self.stream(request), provider=self.name, model=request.model)

    async def aclose(self) -> None:
        """Nothing to close."""
