"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, LM Studio, llama.cpp...).

One pooled ``httpx.AsyncClient`` per base URL, owned by the registry; the stream is read with
`sse.iter_sse` and survives the quirks of small servers (``choices`` null or missing, a
usage-only chunk, ``usage: null``, comment lines, a JSON completion where a stream was asked).
`wire.AnswerCheck` refuses a body that is neither SSE nor JSON (an HTML portal page) and caps
the answer's size; every failure leaves here as a ProviderError.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from paracle_engine.errors import ProviderError, one_line
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
)

# After [DONE], how long to read what is left so the connection can go back to the pool.
_DRAIN_SECONDS = 1.0


def new_http_client(
    *, connect_timeout: float | None = 10.0, read_timeout: float | None = 600.0
) -> httpx.AsyncClient:
    """A pooled client for one base URL. The engine's own timeouts watch tokens; these only
    bound the socket."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )


class OpenAICompatProvider:
    """POSTs ``{base_url}/chat/completions`` with ``stream: true`` and reads the SSE answer."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        key_env: str | None = None,
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
    ) -> None:
        self.name = name
        self.base_url = http_status.check_base_url(base_url, source=f"the {name} base URL").rstrip(
            "/"
        )
        self.endpoint = http_status.origin(self.base_url)
        self.max_answer_chars = max_answer_chars
        self._url = f"{self.base_url}/chat/completions"
        # What errors name: the endpoint and the path, never credentials in the URL.
        self._where = self.endpoint + urlsplit(self._url).path
        self._api_key = api_key or None
        self._key_env = key_env
        # A client handed in belongs to whoever made it (the registry shares it per base URL).
        self._owns_client = client is None
        self._client = client or new_http_client()

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled HTTP client this provider sends through."""
        return self._client

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        for message in request.messages:
            messages += _wire_messages(message)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.input_schema,
                    },
                }
                for t in request.tools
            ]
        # OpenAI's newer models refuse max_tokens; the other servers only know max_tokens.
        body["max_completion_tokens" if self.name == "openai" else "max_tokens"] = (
            request.max_tokens
        )
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "text/event-stream", "accept-encoding": ACCEPT_ENCODING}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield each text delta and each tool call (once its choice finishes, or the stream
        ends), then one chunk with usage and the finish reason."""
        state = _StreamState()
        check = AnswerCheck(
            provider=self.name,
            endpoint=self.endpoint,
            url=self._where,
            max_chars=self.max_answer_chars,
            secret=self._api_key,
        )
        try:
            async with self._client.stream(
                "POST", self._url, json=self._body(request), headers=self._headers()
            ) as response:
                if response.status_code >= 400:
                    raise await self._status_error(response)
                body = await check.open(response, wanted="sse")
                if body.kind == "json":
                    # Some servers ignore stream=true and answer with one JSON completion.
                    obj = self._parse(await body.json(), check, whole=True)
                    for chunk in self._handle(obj or {}, state, check):
                        yield chunk
                    if check.over:
                        raise check.too_large()
                else:
                    async with contextlib.aclosing(self._read_stream(body, state, check)) as chunks:
                        async for chunk in chunks:
                            yield chunk
        except ProviderError:
            raise
        except httpx.TimeoutException as exc:
            raise self._transport_error("timeout", exc, check) from exc
        except httpx.TransportError as exc:
            raise self._transport_error("connection", exc, check) from exc
        except Exception as exc:  # nothing internal reaches a person
            raise http_status.unexpected_failure(
                provider=self.name,
                endpoint=self.endpoint,
                exc=exc,
                secret=self._api_key,
                after_output=check.yielded,
            ) from exc
        # Calls still open (no finish_reason came: some servers never send one) end here.
        for call in state.finish_calls():
            yield StreamChunk(tool_call=call)
        yield StreamChunk(usage=state.usage or Usage(), stop_reason=state.stop_reason)

    async def _read_stream(
        self, body: Body, state: _StreamState, check: AnswerCheck
    ) -> AsyncGenerator[StreamChunk, None]:
        events = body.events()
        async with contextlib.aclosing(events):
            async for _event, data in events:
                data = data.strip()
                if data == "[DONE]":
                    state.done = True
                    break
                obj = self._parse(data, check)
                if obj is None:
                    continue
                state.chunks += 1
                for chunk in self._handle(obj, state, check):
                    yield chunk
                if check.over:
                    raise check.too_large()
            if state.done:
                # Read the few bytes after [DONE] so the connection goes back to the pool.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_DRAIN_SECONDS):
                        async for _ in events:
                            pass
        if not state.done and state.chunks == 0:
            raise body.nothing_readable()

    def _parse(
        self, data: Any, check: AnswerCheck, *, whole: bool = False
    ) -> Mapping[str, Any] | None:
        """One chunk object; None for a data line that is not one (skipped, with a warning).

        ``whole`` is a JSON completion already parsed; it must be an object.
        """
        if whole:
            obj = data
        else:
            try:
                obj = json.loads(data)
            except ValueError:
                obj = None
        if not isinstance(obj, Mapping):
            if whole:
                raise check.malformed(f"expected a JSON object, got {type(obj).__name__}")
            check.garbage(data)
            return None
        if obj.get("error") is not None:
            raise http_status.stream_error(
                provider=self.name,
                endpoint=self.endpoint,
                body=obj,
                secret=self._api_key,
                after_output=check.yielded,
            )
        return obj

    def _handle(
        self, obj: Mapping[str, Any], state: _StreamState, check: AnswerCheck
    ) -> list[StreamChunk]:
        """Text deltas and finished tool calls of one chunk object, within the cap (the
        caller checks `check.over`); remembers usage, the finish reason and tool-call pieces."""
        out: list[StreamChunk] = []
        for choice in obj.get("choices") or ():
            if not isinstance(choice, Mapping):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            if not isinstance(delta, Mapping):
                delta = {}
            text = delta.get("content")
            if isinstance(text, str) and text:
                kept = check.take(text)
                if kept:
                    out.append(StreamChunk(text=kept))
                if check.over:
                    return out
            calls = delta.get("tool_calls")
            if isinstance(calls, list) and calls:
                state.add_calls(calls, check)
                if check.over:
                    return out
            if choice.get("finish_reason"):
                state.stop_reason = str(choice["finish_reason"])
                for call in state.finish_calls():
                    check.yielded = True
                    out.append(StreamChunk(tool_call=call))
        usage = obj.get("usage")
        if isinstance(usage, Mapping):
            state.usage = Usage(
                _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
            )
        return out

    async def _status_error(self, response: httpx.Response) -> ProviderError:
        return http_status.status_error(
            provider=self.name,
            endpoint=self.endpoint,
            status=response.status_code,
            headers=response.headers,
            body=await read_error_body(response),  # its first 64 KiB, however it is encoded
            key_env=self._key_env,
            secret=self._api_key,
        )

    def _transport_error(self, kind: str, exc: Exception, check: AnswerCheck) -> ProviderError:
        return http_status.transport_error(
            provider=self.name,
            endpoint=self.endpoint,
            kind=kind,
            detail=one_line(exc, kind=False),
            after_output=check.yielded,
        )

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The streamed answer, collected."""
        return await collect(self.stream(request), provider=self.name, model=request.model)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._client.aclose()


class _StreamState:
    __slots__ = ("usage", "stop_reason", "done", "chunks", "calls")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.done = False  # [DONE] arrived
        self.chunks = 0  # chunk objects read
        # Tool calls being streamed, by their `index`: [id, name, argument pieces].
        self.calls: dict[int, list[Any]] = {}

    def add_calls(self, deltas: list[Any], check: AnswerCheck) -> None:
        """Take in the ``tool_calls`` pieces of one delta. The id and the name come in a
        call's first piece (some servers repeat them in every piece: the first is kept);
        ``function.arguments`` comes in pieces to join."""
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                continue
            index = delta.get("index")
            if not isinstance(index, int):
                index = position  # servers that send whole calls, unindexed
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = ["", "", []]
            if not call[0] and isinstance(delta.get("id"), str):
                call[0] = delta["id"]
            function = delta.get("function")
            if not isinstance(function, Mapping):
                continue
            if not call[1] and isinstance(function.get("name"), str):
                call[1] = function["name"]
            piece = function.get("arguments")
            if isinstance(piece, str) and piece:
                call[2].append(piece)
                check.count(len(piece))
            elif isinstance(piece, Mapping):  # a server that sends the object itself
                text = json.dumps(piece)
                call[2].append(text)
                check.count(len(text))

    def finish_calls(self) -> list[ToolCall]:
        """The calls streamed so far, complete, in index order; forgets them."""
        calls = [
            ToolCall.parse(id or f"call_{index}", name, "".join(pieces))
            for index, (id, name, pieces) in sorted(self.calls.items())
        ]
        self.calls.clear()
        return calls


def _wire_messages(message: Message) -> list[dict[str, Any]]:
    """One message in the chat completions format: an assistant turn with its
    ``tool_calls``; tool results as ``role: tool`` messages, then the turn's text if any."""
    if message.tool_results:
        out: list[dict[str, Any]] = [
            {
                "role": "tool",
                "tool_call_id": r.tool_call_id,
                # The format has no error flag: the model reads that it failed.
                "content": f"Error: {r.content}" if r.is_error else r.content,
            }
            for r in message.tool_results
        ]
        if message.content:
            out.append({"role": message.role, "content": message.content})
        return out
    if message.tool_calls:
        return [
            {
                "role": message.role,
                "content": message.content or None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            # Broken arguments go back as {}: servers parse this field, and
                            # the error result for that call says what was wrong.
                            "arguments": json.dumps(call.arguments)
                            if call.arguments is not None
                            else "{}",
                        },
                    }
                    for call in message.tool_calls
                ],
            }
        ]
    return [{"role": message.role, "content": message.content}]


def _count(value: Any) -> int:
    """A token count as servers send it (a number, null, a string); 0 when unreadable."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0
