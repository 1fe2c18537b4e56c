"""The Anthropic provider, over the official SDK (`anthropic.AsyncAnthropic`).

The SDK builds and sends the request (auth, versions, headers); Paracle reads the answer
itself, with the same `wire.AnswerCheck` and SSE parser as the OpenAI-compatible provider,
so both refuse an HTML page, cap an answer's size, replace invalid UTF-8 and skip garbage
lines the same way. The SDK's own stream accumulator trusts the server (an HTML 200 is an
AssertionError there, a delta before its block an IndexError). Error statuses are read by a
middleware, at most 64 KiB of them. Every failure leaves here as a ProviderError.

The SDK takes more than a second to import, so nothing here imports it at module level:
`load_sdk()` does, and the registry calls it in a worker thread before building a provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import warnings
from collections.abc import AsyncGenerator, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from paracle_engine.errors import ProviderError
from paracle_engine.models import (
    CompletionRequest,
    CompletionResult,
    Message,
    StreamChunk,
    ToolCall,
    Usage,
)
from paracle_engine.providers import http_status
from paracle_engine.providers.base import collect
from paracle_engine.providers.wire import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_ANSWER_CHARS,
    AnswerCheck,
    Body,
    read_error_body,
    snippet,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"

# Paracle spellings whose API id is not what the dots-to-dashes rule gives.
_MODEL_IDS = {
    "claude-3.5-sonnet": "claude-3-5-sonnet-latest",
    "claude-3.5-haiku": "claude-3-5-haiku-latest",
    "claude-3.7-sonnet": "claude-3-7-sonnet-latest",
}
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")
# After message_stop, how long to read what is left so the connection can go back to the pool.
_DRAIN_SECONDS = 1.0


def api_model_id(model: str) -> str:
    """The API's id for a Paracle model id: ``claude-sonnet-4.5`` -> ``claude-sonnet-4-5``.

    Dots inside ``claude-*`` version numbers become dashes; any other id passes through.
    """
    if model in _MODEL_IDS:
        return _MODEL_IDS[model]
    if model.startswith("claude-"):
        return _VERSION_DOT.sub("-", model)
    return model


def load_sdk() -> ModuleType:
    """Import the Anthropic SDK and its streaming helpers (slow; call it off the loop)."""
    import anthropic
    import anthropic.lib.streaming  # noqa: F401  (messages.stream imports it on first use)
    import anthropic.resources.messages  # noqa: F401

    # Model deprecation notices would print over the TUI; the model id is the person's choice.
    warnings.filterwarnings("ignore", r"The model .* is deprecated", DeprecationWarning)
    return anthropic


class AnthropicProvider:
    """Claude through the Messages API. The SDK never retries: the engine's policy does."""

    name = "anthropic"

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 600.0,
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    ) -> None:
        sdk = load_sdk()
        import httpx2  # the SDK's own HTTP stack; some stream failures surface from it directly

        self._sdk = sdk
        self._transport_errors = (httpx2.TimeoutException, httpx2.TransportError)
        self._api_key = api_key
        env = os.environ.get("ANTHROPIC_BASE_URL")
        source = "the anthropic base URL" if base_url else ("ANTHROPIC_BASE_URL" if env else None)
        url = http_status.check_base_url(base_url or env or DEFAULT_BASE_URL, source=source)
        self.base_url = url.rstrip("/")
        self.endpoint = http_status.origin(self.base_url)
        self.max_answer_chars = max_answer_chars
        # What errors name: the endpoint and the path, never credentials in the URL.
        self._where = self.endpoint + urlsplit(self.base_url).path + "/v1/messages"
        self._client = sdk.AsyncAnthropic(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=sdk.Timeout(read_timeout, connect=connect_timeout),
            middleware=[self._refuse_error_status],
            default_headers={"accept-encoding": ACCEPT_ENCODING},
        )

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": api_model_id(request.model),
            "max_tokens": request.max_tokens,
            "messages": [_wire_message(m) for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        if request.tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in request.tools
            ]
        # The Messages API of SDK 2.x takes no sampling parameters, so temperature is not sent.
        return params

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield each text delta and each tool call (once its block ends), then one chunk
        with usage and the stop reason.

        Consumers that stop early should close the iterator (``contextlib.aclosing``);
        cancellation closes the HTTP response.
        """
        answer = self._answer({**self._params(request), "stream": True})
        async with contextlib.aclosing(answer):
            async for chunk in answer:
                yield chunk

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """One non-streamed answer (a JSON message; an event stream is read too)."""
        answer = self._answer(self._params(request))
        async with contextlib.aclosing(answer):
            return await collect(answer, provider=self.name, model=request.model)

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self._client.close()

    # ------------------------------------------------------------------ reading

    def _check(self) -> AnswerCheck:
        return AnswerCheck(
            provider=self.name,
            endpoint=self.endpoint,
            url=self._where,
            max_chars=self.max_answer_chars,
            secret=self._api_key,
        )

    async def _answer(self, params: dict[str, Any]) -> AsyncGenerator[StreamChunk, None]:
        """Send ``params`` and read whatever came back: an event stream or one message."""
        check = self._check()
        try:
            create = self._client.messages.with_streaming_response.create
            async with create(**params) as api_response:
                wanted = "sse" if params.get("stream") else "json"
                body = await check.open(api_response.http_response, wanted=wanted)
                if body.kind == "json":
                    # A server (or a proxy) that ignores `stream` answers with one message.
                    for chunk in self._message(await body.json(), check):
                        yield chunk
                    if check.over:
                        raise check.too_large()
                else:
                    events = self._events(body, check)
                    async with contextlib.aclosing(events):
                        async for chunk in events:
                            yield chunk
        except ProviderError:
            raise
        except Exception as exc:  # what the SDK or its HTTP stack raised
            raise self._translate(exc, after_output=check.yielded) from exc

    async def _events(self, body: Body, check: AnswerCheck) -> AsyncGenerator[StreamChunk, None]:
        state = _MessageState()
        events = body.events()
        async with contextlib.aclosing(events):
            async for name, data in events:
                if name == "ping":
                    continue
                try:
                    obj = json.loads(data)
                except ValueError:
                    obj = None
                if not isinstance(obj, Mapping):
                    check.garbage(data)
                    continue
                kind = obj.get("type")
                if name == "error" or kind == "error":
                    raise self._stream_error(obj, check)
                state.seen += 1
                text = state.read(obj, check)
                if text:
                    if kept := check.take(text):
                        yield StreamChunk(text=kept)
                    if check.over:
                        raise check.too_large()
                if state.ready:
                    for call in state.ready:
                        check.yielded = True
                        yield StreamChunk(tool_call=call)
                    state.ready.clear()
                if check.over:  # tool-call arguments passed the cap
                    raise check.too_large()
                if state.done:
                    break
            if state.done:
                # Read the few bytes after message_stop so the connection can be reused.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_DRAIN_SECONDS):
                        async for _ in events:
                            pass
        if not state.done:
            if state.seen == 0:
                raise body.nothing_readable()
            # A dropped connection raised already (and is retried); a body that ended in good
            # order without message_stop is what this server sends: not retried.
            raise check.malformed("the stream ended before message_stop")
        yield StreamChunk(usage=state.usage(), stop_reason=state.stop_reason)

    def _message(self, obj: Any, check: AnswerCheck) -> list[StreamChunk]:
        """The chunks of one JSON message (what ``messages.create`` answers)."""
        if isinstance(obj, Mapping) and (obj.get("type") == "error" or "error" in obj):
            raise self._stream_error(obj, check)
        content = obj.get("content") if isinstance(obj, Mapping) else None
        if (
            not isinstance(obj, Mapping)
            or obj.get("type") != "message"
            or not isinstance(content, list)
        ):
            raise check.malformed(
                f"expected a Messages API message, got {snippet(json.dumps(obj))}"
            )
        text = "".join(
            str(block["text"])
            for block in content
            if isinstance(block, Mapping)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        )
        chunks = []
        if kept := check.take(text):
            chunks.append(StreamChunk(text=kept))
        if check.over:  # what fitted reaches the consumer; the caller raises after it
            return chunks
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                call = _message_tool_call(block)
                check.count(len(call.raw_arguments))
                if check.over:
                    return chunks
                chunks.append(StreamChunk(tool_call=call))
        usage = obj.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        stop = obj.get("stop_reason")
        chunks.append(
            StreamChunk(
                usage=Usage(_count(usage.get("input_tokens")), _count(usage.get("output_tokens"))),
                stop_reason=str(stop) if stop else None,
            )
        )
        return chunks

    def _stream_error(self, obj: Mapping[str, Any], check: AnswerCheck) -> ProviderError:
        return http_status.stream_error(
            provider=self.name,
            endpoint=self.endpoint,
            body=obj,
            secret=self._api_key,
            after_output=check.yielded,
        )

    async def _refuse_error_status(self, request: Any, call_next: Any) -> Any:
        """SDK middleware: an error status becomes the engine's error from the first 64 KiB
        of its body (the SDK would read all of it, however large it inflates)."""
        api_response = await call_next(request)
        response = api_response.http_response
        if response.status_code < 400:
            return api_response
        try:
            body = await read_error_body(response)
        finally:
            await response.aclose()
        raise http_status.status_error(
            provider=self.name,
            endpoint=self.endpoint,
            status=response.status_code,
            headers=response.headers,
            body=body,
            key_env=KEY_ENV,
            secret=self._api_key,
        )

    def _translate(self, exc: Exception, *, after_output: bool) -> ProviderError:
        """The engine's error for whatever the SDK or its transport raised."""
        sdk = self._sdk
        where = {"provider": self.name, "endpoint": self.endpoint}
        if isinstance(exc, sdk.APIStatusError):
            if exc.status_code < 400:  # an `error` event inside a 200 stream
                return http_status.stream_error(
                    **where, body=exc.body, secret=self._api_key, after_output=after_output
                )
            return http_status.status_error(
                **where,
                status=exc.status_code,
                headers=exc.response.headers,
                body=exc.body,
                key_env=KEY_ENV,
                secret=self._api_key,
                after_output=after_output,
            )
        if isinstance(exc, sdk.APITimeoutError | self._transport_errors[0]):
            return http_status.transport_error(
                **where, kind="timeout", detail=str(exc), after_output=after_output
            )
        if isinstance(exc, sdk.APIConnectionError | self._transport_errors[1]):
            return http_status.transport_error(
                **where,
                kind="connection",
                detail=str(exc.__cause__ or exc),
                after_output=after_output,
            )
        if isinstance(exc, json.JSONDecodeError | sdk.APIResponseValidationError):
            return http_status.malformed(**where, detail=str(exc), after_output=after_output)
        return http_status.unexpected_failure(
            **where, exc=exc, secret=self._api_key, after_output=after_output
        )


class _MessageState:
    """What the events of one stream said so far."""

    __slots__ = (
        "seen",
        "done",
        "stop_reason",
        "input_tokens",
        "output_tokens",
        "blocks",
        "tools",
        "ready",
    )

    def __init__(self) -> None:
        self.seen = 0  # events of the Messages API read
        self.done = False  # message_stop arrived
        self.stop_reason: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.blocks: set[object] = set()  # indexes of the content blocks started
        # Open tool_use blocks by index: their id, name and the input_json_delta pieces.
        self.tools: dict[object, _ToolBlock] = {}
        self.ready: list[ToolCall] = []  # tool calls whose block ended, not yet yielded

    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens)

    def _count_usage(self, usage: object) -> None:
        if not isinstance(usage, Mapping):
            return
        if usage.get("input_tokens") is not None:
            self.input_tokens = _count(usage["input_tokens"])
        if usage.get("output_tokens") is not None:
            self.output_tokens = _count(usage["output_tokens"])

    def read(self, obj: Mapping[str, Any], check: AnswerCheck) -> str:
        """Take in one event; the text it carries, if any. Unknown events are ignored."""
        kind = obj.get("type")
        if kind == "message_start":
            message = obj.get("message")
            if isinstance(message, Mapping):
                self._count_usage(message.get("usage"))
        elif kind == "content_block_start":
            index = _index(obj)
            self.blocks.add(index)
            block = obj.get("content_block")
            if isinstance(block, Mapping) and block.get("type") == "text":
                text = block.get("text")
                return text if isinstance(text, str) else ""
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                self.tools[index] = _ToolBlock(block)
        elif kind == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, Mapping):
                return ""
            if delta.get("type") == "input_json_delta":
                tool = self.tools.get(_index(obj))
                piece = delta.get("partial_json")
                if tool is None:
                    check.warn_once("tool-order", "skipped tool input outside a tool_use block")
                elif isinstance(piece, str) and piece:
                    tool.pieces.append(piece)
                    check.count(len(piece))
                return ""
            if delta.get("type") != "text_delta":
                return ""
            text = delta.get("text")
            if not isinstance(text, str):
                return ""
            if _index(obj) not in self.blocks:
                check.warn_once(
                    "order",
                    "a content_block_delta came before its content_block_start; its text was kept",
                )
            return text
        elif kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, Mapping) and delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
            self._count_usage(obj.get("usage"))
        elif kind == "content_block_stop":
            tool = self.tools.pop(_index(obj), None)
            if tool is not None:
                self.ready.append(tool.call())
        elif kind == "message_stop":
            self.done = True
            if self.tools:
                check.warn_once("tool-open", "a tool_use block was never closed; it was kept")
                self.ready.extend(tool.call() for tool in self.tools.values())
                self.tools.clear()
        return ""


class _ToolBlock:
    """One tool_use block being streamed."""

    __slots__ = ("id", "name", "pieces", "start_input")

    def __init__(self, block: Mapping[str, Any]) -> None:
        self.id = str(block.get("id") or "")
        self.name = str(block.get("name") or "")
        self.pieces: list[str] = []
        self.start_input = block.get("input")

    def call(self) -> ToolCall:
        if self.pieces:
            return ToolCall.parse(self.id, self.name, "".join(self.pieces))
        # No input_json_delta with content: the input is what content_block_start carried.
        start = self.start_input
        return ToolCall.parse(self.id, self.name, json.dumps(start) if start else "")


def _message_tool_call(block: Mapping[str, Any]) -> ToolCall:
    """A tool_use block of a whole (not streamed) message."""
    raw = block.get("input")
    call = ToolCall.parse(
        str(block.get("id") or ""), str(block.get("name") or ""), json.dumps(raw) if raw else ""
    )
    return call


def _wire_message(message: Message) -> dict[str, Any]:
    """One message in the Messages API's format: a plain string when it is only text;
    content blocks when it carries tool calls (text first) or tool results (results first,
    as the API requires)."""
    if not message.tool_calls and not message.tool_results:
        return {"role": message.role, "content": message.content}
    blocks: list[dict[str, Any]] = []
    for result in message.tool_results:
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": result.tool_call_id,
            "content": result.content,
        }
        if result.is_error:
            block["is_error"] = True
        blocks.append(block)
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        # Input the model sent as broken JSON goes back as {}: the API takes only an object,
        # and the error result the caller sends for that call says what was wrong.
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": call.arguments if call.arguments is not None else {},
            }
        )
    return {"role": message.role, "content": blocks}


def _index(obj: Mapping[str, Any]) -> object:
    index = obj.get("index", 0)
    return index if isinstance(index, int | str) else repr(index)


def _count(value: Any) -> int:
    """A token count as the server sent it; 0 when unreadable."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0
