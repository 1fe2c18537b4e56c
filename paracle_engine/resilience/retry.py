"""Retry with full-jitter backoff that honours the server's `retry-after` and `x-should-retry`.

One policy decides what is worth sending again (`is_retryable`) and how long to wait
(`retry_delay`); the ResiliencePolicy applies it to streams.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping

from pydantic import ConfigDict

from paracle_engine.config import RetrySettings
from paracle_engine.errors import (
    AuthenticationError,
    CircuitOpenError,
    OperationTimeoutError,
    ParacleError,
    ProviderError,
    RateLimitError,
)
from paracle_engine.providers.http_status import retry_after

#: Statuses that say "try again later": timeout, conflict, rate limit, and the server's own failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: Statuses that say "this request is wrong": sending it again cannot help.
FATAL_STATUSES = frozenset({400, 401, 403, 404, 413, 422})
#: Error types a provider reports in a body or in an `error` event of a stream.
RETRYABLE_ERROR_TYPES = frozenset(
    {
        "overloaded_error",
        "api_error",
        "rate_limit_error",
        "timeout_error",
        "timeout",
        "connection_error",
        "connection",
        "server_error",
        "service_unavailable",
    }
)
FATAL_ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "billing_error",
    }
)
# Transport failures of the SDKs and of httpx (by class name: neither is imported here).
_CONNECTION_CLASS_NAMES = frozenset(
    {"APIConnectionError", "APITimeoutError", "TransportError", "TimeoutException"}
)


class RetryConfig(RetrySettings):
    """How many times to try and how long to wait between tries: the fields (and defaults) of
    `config.RetrySettings`, frozen, with the backoff.

    The wait before attempt n+1 is drawn uniformly from [0, min(max_delay, base_delay *
    exponential_base ** (n - 1))] ("full jitter"), or is that ceiling exactly when `jitter`
    is off. A server's `retry-after` replaces it, up to `max_retry_after`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryConfig:
        """The retry settings of `config.toml` as a RetryConfig (at least one attempt)."""
        fields = settings.model_dump()
        fields["max_attempts"] = max(1, settings.max_attempts)
        return cls(**fields)

    def backoff(self, failed_attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """The wait after the `failed_attempt`-th attempt (1-based) when the server named none."""
        exponent = max(0, failed_attempt - 1)
        try:
            ceiling = self.base_delay * self.exponential_base**exponent
        except OverflowError:
            ceiling = self.max_delay
        ceiling = max(0.0, min(self.max_delay, ceiling))
        return rand() * ceiling if self.jitter else ceiling


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, ProviderError):
        return exc.status
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    # httpx.HTTPStatusError and friends carry the status on their response.
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _error_type_of(exc: BaseException) -> str | None:
    kind = getattr(exc, "error_type", None)
    if isinstance(kind, str):
        return kind
    # An SDK error carries the JSON body: {"type": "error", "error": {"type": "overloaded_error"}}.
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("type"), str):
            return err["type"]
    return None


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__name__ in _CONNECTION_CLASS_NAMES for cls in type(exc).__mro__)


def classify(exc: BaseException) -> bool | None:
    """True: worth sending again; False: never; None: this policy does not know the error."""
    if isinstance(exc, (AuthenticationError, CircuitOpenError)):
        return False
    if isinstance(exc, ProviderError) and exc.after_output:
        return False
    if isinstance(exc, OperationTimeoutError):
        # The total budget is spent for good; the other timeouts are one slow attempt.
        return exc.kind not in ("total", "step", "workflow")
    if isinstance(exc, ProviderError) and exc.should_retry is not None:
        return exc.should_retry
    status = _status_of(exc)
    if status is not None:
        if status in RETRYABLE_STATUSES or status >= 500:
            return True
        if 400 <= status < 500:
            return False
    error_type = _error_type_of(exc)
    if error_type in RETRYABLE_ERROR_TYPES:
        return True
    if error_type in FATAL_ERROR_TYPES:
        return False
    if _is_connection_error(exc):
        return True
    # A provider error wrapping a dropped connection or a client timeout.
    cause = exc.__cause__
    if isinstance(exc, ParacleError) and cause is not None and _is_connection_error(cause):
        return True
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether sending the same request again may succeed.

    Retried: 408, 409, 429, 5xx (529 too), dropped connections, timeouts other than the total,
    and `overloaded_error` / `api_error` events inside a stream. Not retried: 400, 401, 403, 404,
    413, 422, anything after text reached a consumer. A server's `x-should-retry` wins both ways.
    """
    return classify(exc) is True


def is_endpoint_failure(exc: BaseException) -> bool:
    """Whether `exc` says the endpoint is unhealthy (what a circuit breaker counts).

    5xx, 529, overloaded or api errors in a stream, dropped connections and timeouts count;
    a refused key, a bad request or a rate limit do not: the endpoint answered fine.
    """
    if isinstance(exc, (CircuitOpenError, asyncio.CancelledError)):
        return False
    if isinstance(exc, OperationTimeoutError):
        return True
    status = _status_of(exc)
    if status is not None and status >= 400:
        return status >= 500 or status == 408
    if _error_type_of(exc) in RETRYABLE_ERROR_TYPES - {"rate_limit_error"}:
        return True
    if _is_connection_error(exc):
        return True
    cause = exc.__cause__
    return isinstance(exc, ParacleError) and cause is not None and _is_connection_error(cause)


def retry_after_from_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms`, else `retry-after` (seconds or date).

    Header names in any case; the parsing is the providers' own (http_status.retry_after).
    """
    return retry_after({k.lower(): v for k, v in headers.items()}, now=now)


def _retry_after_of(exc: BaseException) -> float | None:
    if isinstance(exc, ProviderError):
        return exc.retry_after
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            return retry_after_from_headers(headers)
        except Exception:  # a foreign header mapping we cannot read: fall back to backoff
            return None
    return None


def retry_delay(
    exc: BaseException,
    failed_attempt: int,
    config: RetryConfig,
    *,
    rand: Callable[[], float] = random.random,
) -> float:
    """How long to wait before sending again after `exc` ended attempt `failed_attempt`.

    A server's retry-after is the delay; one above `config.max_retry_after` is refused with a
    ProviderError saying how long the server asked to wait.
    """
    asked = _retry_after_of(exc)
    if asked is None:
        return config.backoff(failed_attempt, rand=rand)
    if asked > config.max_retry_after:
        provider = getattr(exc, "provider", "the provider")
        cls = RateLimitError if isinstance(exc, RateLimitError) else ProviderError
        raise cls(
            f"{provider} asked to wait {asked:g} s before retrying, more than the "
            f"{config.max_retry_after:g} s Paracle waits; try again later",
            provider=str(provider),
            status=_status_of(exc),
            error_type=getattr(exc, "error_type", None),
            retry_after=asked,
            should_retry=False,
            hint="raise retry.max_retry_after in config.toml to wait longer",
        ) from exc
    return asked


def gave_up(exc: BaseException, attempts: int) -> BaseException:
    """Mark `exc` as final after `attempts` tries (in place, so its type and fields stay)."""
    if attempts > 1 and isinstance(exc, ParacleError):
        exc.message = f"{exc.message} (gave up after {attempts} attempts)"
        exc.args = (exc.message, *exc.args[1:])
    return exc
