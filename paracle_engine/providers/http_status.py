"""Turn what an HTTP provider answered (status, headers, body) into a `ProviderError`.

Both wire formats (Anthropic and OpenAI-compatible) share these rules, so the retry policy
sees the same status, error type, retry-after and should-retry whoever failed.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from paracle_engine.errors import (
    AuthenticationError,
    BadInputError,
    ProviderError,
    RateLimitError,
    one_line,
)
from paracle_engine.terminal import terminal_safe_line

_MAX_DETAIL = 300


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the key of circuit breakers and rate limits."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{parts.hostname or 'localhost'}:{port}"


def check_base_url(url: str, *, source: str | None = None) -> str:
    """``url`` when a provider can be called at it; else a BadInputError, before any request.

    An http(s) scheme, a host and a port in range are required: a typo there is the
    person's to fix, so it is exit 2 at once rather than a connection error retried four
    times. ``source`` says where the URL came from (``base_urls.ollama in config.toml``).
    """
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        bad_port = "port" in str(exc).lower()
        problem = "the port is not a number from 1 to 65535" if bad_port else "it cannot be parsed"
        parts, port = None, None
    if parts is not None:
        if parts.scheme.lower() not in ("http", "https"):
            scheme = parts.scheme or "none"
            problem = f"the scheme is {scheme!r}, not http or https"
        elif not parts.hostname:
            problem = "it names no host"
        elif port == 0:
            problem = "port 0 is not a port a server listens on"
        elif any(c.isspace() for c in url.strip()):
            problem = "it contains whitespace"
    if problem is None:
        return url.strip()
    where = f"{source}: " if source else ""
    shown = terminal_safe_line(_without_credentials(url))
    raise BadInputError(
        f"{where}{shown!r} is not a usable base URL: {problem}",
        hint="use an address like http://localhost:11434/v1 or https://api.example.com",
    )


def _without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` shown as ``***@``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}"


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after``
    (seconds or an HTTP date). None when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """The server's own verdict from ``x-should-retry``, when it gave one."""
    value = headers.get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def error_fields(body: Any) -> tuple[str | None, str | None]:
    """(error type, message) from a JSON error body of either wire format."""
    if not isinstance(body, Mapping):
        return None, body.strip() if isinstance(body, str) and body.strip() else None
    err = body.get("error")
    if isinstance(err, Mapping):
        kind = err.get("type") or err.get("code")
        message = err.get("message")
        return (str(kind) if kind else None), (str(message) if message else None)
    if isinstance(err, str):  # Ollama and friends: {"error": "model not found"}
        return None, err
    message = body.get("message") or body.get("detail")
    return None, (str(message) if message else None)


def scrub(text: str, secret: str | None) -> str:
    """One line, bounded, and never the API key."""
    from paracle_engine.secrets import SHORTEST_SCRUBBED

    text = " ".join(text.split())
    if secret and len(secret) >= SHORTEST_SCRUBBED:
        text = text.replace(secret, "***")
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def status_error(
    *,
    provider: str,
    endpoint: str,
    status: int,
    headers: Mapping[str, str],
    body: Any,
    key_env: str | None = None,
    secret: str | None = None,
    after_output: bool = False,
) -> ProviderError:
    """The ProviderError (or subclass) for an HTTP error answer."""
    kind, message = error_fields(body)
    detail = scrub(f"{kind + ': ' if kind else ''}{message or 'no details'}", secret)
    text = f"{provider} at {endpoint} answered {status}: {detail}"
    fields: dict[str, Any] = {
        "provider": provider,
        "endpoint": endpoint,
        "status": status,
        "error_type": kind,
        "retry_after": retry_after(headers),
        "should_retry": should_retry(headers),
        "after_output": after_output,
    }
    if status in (401, 403):
        where = f", or set {key_env}" if key_env else ""
        hint = f"check the API key: run `paracle keys set {provider}`{where}"
        return AuthenticationError(text, hint=hint, **fields)
    if status == 429:
        return RateLimitError(
            text, hint="wait a moment, or lower the rate limit in config.toml", **fields
        )
    if status == 404:
        return ProviderError(text, hint="check the model id and the base URL", **fields)
    if status == 529 or kind == "overloaded_error":
        return ProviderError(text, hint="the provider is overloaded; try again shortly", **fields)
    return ProviderError(text, **fields)


def stream_error(
    *, provider: str, endpoint: str, body: Any, secret: str | None = None, after_output: bool
) -> ProviderError:
    """An ``error`` event inside a 200 stream: no status, the body's error type."""
    kind, message = error_fields(body)
    detail = scrub(f"{kind + ': ' if kind else ''}{message or 'no details'}", secret)
    hint = "the provider is overloaded; try again shortly" if kind == "overloaded_error" else None
    return ProviderError(
        f"{provider} at {endpoint} failed mid-stream: {detail}",
        provider=provider,
        endpoint=endpoint,
        error_type=kind or "stream_error",
        after_output=after_output,
        hint=hint,
    )


def transport_error(
    *, provider: str, endpoint: str, kind: str, detail: str, after_output: bool
) -> ProviderError:
    """A connection failure or an HTTP-level timeout (``kind`` is connection or timeout)."""
    what = "timed out talking to" if kind == "timeout" else "could not talk to"
    return ProviderError(
        f"{what} {provider} at {endpoint}: {scrub(detail, None) or kind}",
        provider=provider,
        endpoint=endpoint,
        error_type=kind,
        after_output=after_output,
        hint="check the network and the base URL" if kind == "connection" else None,
    )


def malformed(*, provider: str, endpoint: str, detail: str, after_output: bool) -> ProviderError:
    """Stream data that is not what the wire format promises."""
    return ProviderError(
        f"malformed stream data from {endpoint}: {scrub(detail, None)}",
        provider=provider,
        endpoint=endpoint,
        error_type="malformed",
        after_output=after_output,
    )


def unexpected_failure(
    *, provider: str, endpoint: str, exc: BaseException, secret: str | None, after_output: bool
) -> ProviderError:
    """Whatever else went wrong while calling a provider (a bug in a client library, an answer
    it could not handle), as a ProviderError rather than an internal exception."""
    detail = scrub(one_line(exc, hint=False), secret)
    return ProviderError(
        f"{provider} at {endpoint} failed: {detail}",
        provider=provider,
        endpoint=endpoint,
        error_type="unexpected",
        after_output=after_output,
        hint="run again with --debug for details",
    )
