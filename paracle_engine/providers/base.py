"""The LLMProvider protocol every provider implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Protocol, runtime_checkable

from paracle_engine.models import (
    CompletionRequest,
    CompletionResult,
    StreamChunk,
    ToolCall,
    Usage,
)


@runtime_checkable
class LLMProvider(Protocol):
    """A model endpoint. `stream` yields text chunks and ends with one carrying usage.

    A request that offers ``tools`` may be answered with tool calls: each arrives as a chunk
    whose ``tool_call`` is complete (its arguments parsed, or an ``error`` saying why not),
    and the last chunk's ``stop_reason`` is the server's word for why it stopped.

    Errors are raised as `paracle_engine.errors.ProviderError` (or a subclass) carrying the
    HTTP status, the provider's error type and any retry-after the server sent, so the
    engine's retry policy can decide. Providers never retry on their own.
    """

    #: The provider's name as agents spell it: "anthropic", "ollama", "simulated"...
    name: str
    #: Identifies the endpoint (scheme://host:port) for circuit breakers and rate limits.
    endpoint: str

    async def complete(self, request: CompletionRequest) -> CompletionResult: ...

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]: ...

    async def aclose(self) -> None: ...


async def collect(
    stream: AsyncIterator[StreamChunk], *, provider: str, model: str
) -> CompletionResult:
    """Drain a stream into one result: how `complete` is built on `stream` where it fits."""
    parts: list[str] = []
    usage = Usage()
    stop: str | None = None
    calls: list[ToolCall] = []
    async for chunk in stream:
        if chunk.text:
            parts.append(chunk.text)
        if chunk.tool_call is not None:
            calls.append(chunk.tool_call)
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.stop_reason:
            stop = chunk.stop_reason
    return CompletionResult(
        text="".join(parts),
        usage=usage,
        model=model,
        provider=provider,
        stop_reason=stop,
        tool_calls=calls,
    )
