"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, LM Studio, llama.cpp...).

One pooled ``httpx.AsyncClient`` per base URL, owned by the registry; the stream is read with
`sse.iter_sse` and survives the quirks of small servers (``choices`` null or missing, a
usage-only chunk, ``usage: null``, comment lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx

from ..errors import ProviderError
from ..models import CompletionRequest, CompletionResult, StreamChunk, Usage
from . import http_status
from .base import collect
from .sse import iter_sse

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
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.endpoint = http_status.origin(self.base_url)
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
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        # OpenAI's newer models refuse max_tokens; the other servers only know max_tokens.
        body["max_completion_tokens" if self.name == "openai" else "max_tokens"] = (
            request.max_tokens
        )
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "text/event-stream"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield each text delta, then one chunk with usage and the finish reason."""
        state = _StreamState()
        url = f"{self.base_url}/chat/completions"
        try:
            async with self._client.stream(
                "POST", url, json=self._body(request), headers=self._headers()
            ) as response:
                if response.status_code >= 400:
                    raise await self._status_error(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # Some servers ignore stream=true and answer with one JSON completion.
                    for chunk in self._whole_answer(await response.aread(), state):
                        yield chunk
                else:
                    async with contextlib.aclosing(self._read_stream(response, state)) as chunks:
                        async for chunk in chunks:
                            yield chunk
        except httpx.TimeoutException as exc:
            raise self._transport_error("timeout", exc, state) from exc
        except httpx.TransportError as exc:
            raise self._transport_error("connection", exc, state) from exc
        yield StreamChunk(usage=state.usage or Usage(), stop_reason=state.stop_reason)

    async def _read_stream(
        self, response: httpx.Response, state: _StreamState
    ) -> AsyncGenerator[StreamChunk, None]:
        events = iter_sse(response.aiter_bytes())
        async with contextlib.aclosing(events):
            async for _event, data in events:
                data = data.strip()
                if data == "[DONE]":
                    break
                for chunk in self._handle(self._parse(data, state), state):
                    yield chunk
            # Read the few bytes after [DONE] so the connection goes back to the pool.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_SECONDS):
                    async for _ in events:
                        pass

    def _parse(self, data: str, state: _StreamState) -> Mapping[str, Any]:
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, Mapping):
            raise http_status.malformed(
                provider=self.name,
                endpoint=self.endpoint,
                detail=f"expected a JSON object, got {data[:80]!r}",
                after_output=state.yielded,
            )
        if obj.get("error") is not None:
            raise http_status.stream_error(
                provider=self.name,
                endpoint=self.endpoint,
                body=obj,
                secret=self._api_key,
                after_output=state.yielded,
            )
        return obj

    def _handle(self, obj: Mapping[str, Any], state: _StreamState) -> list[StreamChunk]:
        """Text deltas of one chunk object; remembers usage and the finish reason."""
        out: list[StreamChunk] = []
        for choice in obj.get("choices") or ():
            if not isinstance(choice, Mapping):
                continue
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content") if isinstance(delta, Mapping) else None
            if isinstance(text, str) and text:
                state.yielded = True
                out.append(StreamChunk(text=text))
            if choice.get("finish_reason"):
                state.stop_reason = str(choice["finish_reason"])
        usage = obj.get("usage")
        if isinstance(usage, Mapping):
            state.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        return out

    def _whole_answer(self, raw: bytes, state: _StreamState) -> list[StreamChunk]:
        return self._handle(self._parse(raw.decode("utf-8", "replace"), state), state)

    async def _status_error(self, response: httpx.Response) -> ProviderError:
        raw = await response.aread()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return http_status.status_error(
            provider=self.name,
            endpoint=self.endpoint,
            status=response.status_code,
            headers=response.headers,
            body=body,
            key_env=self._key_env,
            secret=self._api_key,
        )

    def _transport_error(self, kind: str, exc: Exception, state: _StreamState) -> ProviderError:
        return http_status.transport_error(
            provider=self.name,
            endpoint=self.endpoint,
            kind=kind,
            detail=str(exc) or type(exc).__name__,
            after_output=state.yielded,
        )

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """The streamed answer, collected."""
        return await collect(self.stream(request), provider=self.name, model=request.model)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._owns_client:
            await self._client.aclose()


class _StreamState:
    __slots__ = ("usage", "stop_reason", "yielded")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.yielded = False
