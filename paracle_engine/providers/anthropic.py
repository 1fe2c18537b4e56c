"""The Anthropic provider, over the official SDK (`anthropic.AsyncAnthropic`).

The SDK takes more than a second to import, so nothing here imports it at module level:
`load_sdk()` does, and the registry calls it in a worker thread before building a provider.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any

from ..errors import ProviderError
from ..models import CompletionRequest, CompletionResult, StreamChunk, Usage
from . import http_status

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"

# Paracle spellings whose API id is not what the dots-to-dashes rule gives.
_MODEL_IDS = {
    "claude-3.5-sonnet": "claude-3-5-sonnet-latest",
    "claude-3.5-haiku": "claude-3-5-haiku-latest",
    "claude-3.7-sonnet": "claude-3-7-sonnet-latest",
}
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")


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
    ) -> None:
        sdk = load_sdk()
        import httpx2  # the SDK's own HTTP stack; some stream failures surface from it directly

        self._sdk = sdk
        self._transport_errors = (httpx2.TimeoutException, httpx2.TransportError)
        self._api_key = api_key
        self.base_url = (
            base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.endpoint = http_status.origin(self.base_url)
        self._client = sdk.AsyncAnthropic(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=sdk.Timeout(read_timeout, connect=connect_timeout),
        )

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": api_model_id(request.model),
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            params["system"] = request.system
        # The Messages API of SDK 2.x takes no sampling parameters, so temperature is not sent.
        return params

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamChunk, None]:
        """Yield each text delta, then one chunk with usage and the stop reason.

        Consumers that stop early should close the iterator (``contextlib.aclosing``);
        cancellation closes the HTTP response through the SDK's stream manager.
        """
        yielded = False
        try:
            async with self._client.messages.stream(**self._params(request)) as events:
                async for event in events:
                    if event.type == "text" and event.text:
                        yielded = True
                        yield StreamChunk(text=event.text)
                final = await events.get_final_message()
        except Exception as exc:
            error = self._translate(exc, after_output=yielded)
            if error is None:
                raise
            raise error from exc
        usage = Usage(final.usage.input_tokens, final.usage.output_tokens)
        yield StreamChunk(usage=usage, stop_reason=final.stop_reason)

    async def complete(self, request: CompletionRequest) -> CompletionResult:
        """One non-streamed answer (``messages.create``)."""
        try:
            message = await self._client.messages.create(**self._params(request))
        except Exception as exc:
            error = self._translate(exc, after_output=False)
            if error is None:
                raise
            raise error from exc
        if not hasattr(message, "content"):  # the SDK hands back raw text for a non-JSON answer
            raise http_status.malformed(
                provider=self.name,
                endpoint=self.endpoint,
                detail=f"expected a JSON message, got {str(message)[:80]!r}",
                after_output=False,
            )
        text = "".join(block.text for block in message.content if block.type == "text")
        return CompletionResult(
            text=text,
            usage=Usage(message.usage.input_tokens, message.usage.output_tokens),
            model=request.model,
            provider=self.name,
            stop_reason=message.stop_reason,
        )

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        await self._client.close()

    def _translate(self, exc: Exception, *, after_output: bool) -> ProviderError | None:
        """The engine's error for an SDK or transport failure; None for anything else."""
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
        if isinstance(exc, sdk.APIError):
            return ProviderError(
                f"{self.name} at {self.endpoint} failed: {http_status.scrub(str(exc), self._api_key)}",
                provider=self.name,
                after_output=after_output,
            )
        return None
