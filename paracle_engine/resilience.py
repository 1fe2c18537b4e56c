"""Retry, circuit breakers, rate limits and timeouts around every provider call.

(Interface in place; the full policy is being built in this file.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .config import Settings
from .events import EventBus
from .models import CompletionRequest, StreamChunk
from .providers.base import LLMProvider


class ResiliencePolicy:
    """Owns the retry policy, one breaker per endpoint and one limiter per provider."""

    def __init__(self, settings: Settings, bus: EventBus) -> None:
        self.settings = settings
        self.bus = bus

    async def stream(
        self,
        provider: LLMProvider,
        request: CompletionRequest,
        *,
        run_id: str,
        step_id: str,
    ) -> AsyncIterator[StreamChunk]:
        """Stream `request` through `provider` with every guard applied."""
        async for chunk in provider.stream(request):
            yield chunk
