"""Retry, circuit breakers, rate limits and timeouts around every provider call.

`ResiliencePolicy` is the one place a provider is called through. Per attempt it waits for
the provider's rate limiter, passes the endpoint's circuit breaker, opens the stream and
watches three clocks: the first token (connect included), the idle gap between chunks and
the total. A failure is retried transparently while no text has reached the consumer; after
that, the stream ends with a ProviderError marked `after_output` and the partial text stays
with whoever received it. The pieces live beside it in this package.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from paracle_engine.config import Settings
from paracle_engine.errors import (
    AuthenticationError,
    CircuitOpenError,
    OperationTimeoutError,
    ProviderError,
    one_line,
)
from paracle_engine.events import CircuitStateChanged, EventBus, RateLimitWaiting, RetryScheduled
from paracle_engine.models import CompletionRequest, CompletionResult, StreamChunk, Usage
from paracle_engine.providers.base import LLMProvider, collect
from paracle_engine.resilience.breaker import (
    CircuitBreaker,
    CircuitChange,
    CircuitState,
    CircuitTicket,
)
from paracle_engine.resilience.ratelimit import RateLimiter
from paracle_engine.resilience.retry import (
    RetryConfig,
    classify,
    gave_up,
    is_endpoint_failure,
    is_retryable,
    retry_after_from_headers,
    retry_delay,
)

__all__ = [
    "CircuitBreaker",
    "CircuitChange",
    "CircuitState",
    "CircuitTicket",
    "OperationTimeoutError",
    "RateLimiter",
    "ResiliencePolicy",
    "RetryConfig",
    "estimate_tokens",
    "is_endpoint_failure",
    "is_retryable",
    "retry_after_from_headers",
    "retry_delay",
]

log = logging.getLogger(__name__)


def estimate_tokens(request: CompletionRequest) -> int:
    """Tokens a call may use, reserved up front: the prompt (about 4 characters a token) plus
    `max_tokens`, as providers count it; corrected with the real usage once it is known."""
    chars = len(request.system) + sum(len(m.content) for m in request.messages)
    return chars // 4 + 1 + max(0, request.max_tokens)


class _Watch:
    """The clocks of one attempt: which deadline comes next, and what it is called."""

    __slots__ = ("first_token", "idle", "total_deadline", "first_deadline", "last_chunk")

    def __init__(self, settings: Settings, now: float, total_deadline: float | None) -> None:
        t = settings.timeouts
        # The connection is opened inside the provider, so its budget joins the first token's;
        # with no first-token limit, the provider's socket timeout alone bounds the connect.
        self.first_token = None if t.first_token is None else (t.connect or 0.0) + t.first_token
        self.idle = t.idle
        self.total_deadline = total_deadline
        self.first_deadline = None if self.first_token is None else now + self.first_token
        self.last_chunk: float | None = None  # set once text arrived: idle gaps count from then

    def next_deadline(self) -> tuple[float | None, str, float]:
        """(deadline, kind, seconds) of the limit that fires first, or (None, "", 0)."""
        options: list[tuple[float, str, float]] = []
        if self.last_chunk is None:
            if self.first_deadline is not None and self.first_token is not None:
                options.append((self.first_deadline, "first_token", self.first_token))
        elif self.idle is not None:
            options.append((self.last_chunk + self.idle, "idle", self.idle))
        if self.total_deadline is not None:
            options.append((self.total_deadline, "total", -1.0))
        if not options:
            return None, "", 0.0
        return min(options, key=lambda o: o[0])


class ResiliencePolicy:
    """Owns the retry policy, one breaker per endpoint and one limiter per provider.

    `clock` drives breakers and limiters and `sleep` every deliberate wait (retry delays and
    rate limits), so tests can run them on a fake clock; timeouts use the event loop's clock.
    """

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, RateLimiter] = {}

    @property
    def retry_config(self) -> RetryConfig:
        """The retry settings in force."""
        return RetryConfig.from_settings(self.settings.retry)

    def breaker_for(self, endpoint: str) -> CircuitBreaker:
        """The circuit breaker of `endpoint`, made on first use."""
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            c = self.settings.circuit
            breaker = CircuitBreaker(
                c.failure_threshold,
                c.reset_timeout,
                c.half_open_max_calls,
                name=endpoint,
                clock=self._clock,
                on_state_change=self._circuit_changed,
            )
            self._breakers[endpoint] = breaker
        return breaker

    def limiter_for(self, provider: str) -> RateLimiter:
        """The rate limiter of the provider named `provider` (unlimited unless configured)."""
        limiter = self._limiters.get(provider)
        if limiter is None:
            limits = self.settings.rate_limits.get(provider)
            limiter = RateLimiter(
                limits.requests_per_minute if limits else None,
                limits.tokens_per_minute if limits else None,
                clock=self._clock,
                sleep=self._sleep,
            )
            self._limiters[provider] = limiter
        return limiter

    async def complete(
        self,
        provider: LLMProvider,
        request: CompletionRequest,
        *,
        run_id: str = "",
        step_id: str = "",
    ) -> CompletionResult:
        """One whole answer, through the same guards as `stream`."""
        stream = self.stream(provider, request, run_id=run_id, step_id=step_id)
        async with aclosing(stream):
            return await collect(stream, provider=provider.name, model=request.model)

    async def stream(
        self,
        provider: LLMProvider,
        request: CompletionRequest,
        *,
        run_id: str,
        step_id: str,
    ) -> AsyncGenerator[StreamChunk, None]:
        """Stream `request` through `provider` with every guard applied.

        Raises the provider's error when it is not worth retrying or the attempts ran out,
        CircuitOpenError while the endpoint's circuit is open, OperationTimeoutError when a
        timeout fired before any text, and ProviderError(after_output=True) for any failure
        once text was yielded.
        """
        config = self.retry_config
        limiter = self.limiter_for(provider.name)
        breaker = self.breaker_for(provider.endpoint)
        loop = asyncio.get_running_loop()
        total = self.settings.timeouts.total
        total_deadline = None if total is None else loop.time() + total
        estimate = estimate_tokens(request)
        delivered = 0
        attempt = 0
        previous: BaseException | None = None

        def waiting(seconds: float, reason: str) -> None:
            self.bus.publish(
                RateLimitWaiting(
                    run_id=run_id,
                    step_id=step_id,
                    provider=provider.name,
                    seconds=seconds,
                    reason=reason,
                )
            )

        while True:
            attempt += 1
            waited = await limiter.acquire(estimate, on_wait=waiting)
            if total_deadline is not None:
                total_deadline += waited  # a pause Paracle imposed itself is not the call's time
            try:
                ticket = breaker.admit(run_id)
            except CircuitOpenError as exc:
                limiter.release(estimate, request=True)  # nothing was sent
                raise exc from previous
            watch = _Watch(self.settings, loop.time(), total_deadline)
            failure: BaseException | None = None
            usage: Usage | None = None
            chunks: AsyncGenerator[StreamChunk, None] | None = None
            try:
                chunks = provider.stream(request)
                while True:
                    deadline, kind, seconds = watch.next_deadline()
                    scope = asyncio.timeout_at(deadline)
                    try:
                        async with scope:
                            chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    except Exception as exc:
                        failure = exc
                        if scope.expired():
                            failure = OperationTimeoutError(
                                kind,
                                (total or 0.0) if kind == "total" else (seconds or 0.0),
                                what=provider.name,
                            )
                        break
                    if chunk.usage is not None:
                        usage = chunk.usage
                    if chunk.text:
                        delivered += len(chunk.text)
                        watch.last_chunk = loop.time()
                    elif watch.last_chunk is not None:
                        watch.last_chunk = loop.time()
                    yield chunk
            except BaseException as exc:
                # Cancelled, or the consumer stopped reading: neither says anything of the endpoint.
                breaker.record(ticket, exc)
                raise
            finally:
                if chunks is not None:
                    await _close(chunks)
                if usage is not None:
                    limiter.adjust(estimate, usage.total)
            breaker.record(ticket, failure)
            if failure is None:
                return
            if delivered:
                raise _after_output(provider.name, failure, delivered) from failure
            if isinstance(failure, AuthenticationError):
                raise _key_refused(failure) from failure
            if classify(failure) is not True:
                raise gave_up(failure, attempt)
            if attempt >= config.max_attempts:
                raise gave_up(failure, attempt)
            delay = retry_delay(failure, attempt, config, rand=self._rand)
            if total_deadline is not None and loop.time() + delay >= total_deadline:
                assert total is not None
                raise OperationTimeoutError("total", total, what=provider.name) from failure
            self.bus.publish(
                RetryScheduled(
                    run_id=run_id,
                    step_id=step_id,
                    provider=provider.name,
                    attempt=attempt + 1,
                    max_attempts=config.max_attempts,
                    delay=delay,
                    error=one_line(failure, hint=False),
                )
            )
            log.info(
                "%s: retrying in %.1f s, attempt %d/%d: %s",
                provider.name,
                delay,
                attempt + 1,
                config.max_attempts,
                one_line(failure, hint=False),
            )
            previous = failure
            await self._sleep(delay)

    def _circuit_changed(self, change: CircuitChange) -> None:
        self.bus.publish(
            CircuitStateChanged(
                run_id=str(change.context or ""),
                endpoint=change.name,
                state=change.new,
                retry_in=change.retry_in,
            )
        )


def _after_output(provider: str, failure: BaseException, delivered: int) -> ProviderError:
    """The error for a stream that broke once text had reached the consumer."""
    # The failure's own advice (raise a size limit, say) beats "run it again".
    advice = getattr(failure, "hint", None) or "run it again for a complete one"
    return ProviderError(
        f"{provider} stream broke after {delivered} characters: {one_line(failure, hint=False)}",
        provider=provider,
        endpoint=getattr(failure, "endpoint", None),
        status=getattr(failure, "status", None),
        error_type=getattr(failure, "error_type", None),
        should_retry=False,
        after_output=True,
        hint=f"the partial answer was kept; {advice}",
    )


def _key_refused(error: AuthenticationError) -> AuthenticationError:
    """Say plainly that the key was refused, whatever words the provider used."""
    verb = "denied access to" if error.status == 403 else "refused"
    refused = AuthenticationError(
        f"{error.provider} {verb} the API key: {one_line(error, hint=False)}",
        provider=error.provider,
        status=error.status,
        error_type=error.error_type,
        should_retry=False,
        hint=error.hint or f"check the API key: run `paracle keys set {error.provider}`",
    )
    return refused


async def _close(chunks: AsyncGenerator[StreamChunk, None]) -> None:
    """Close a provider stream so its HTTP response is released, whatever state it is in."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception:  # the stream already failed; its error is the one that matters
        log.debug("closing a provider stream failed", exc_info=True)
