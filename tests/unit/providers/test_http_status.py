"""How an HTTP error answer becomes a ProviderError: retry-after, should-retry, error type."""

from __future__ import annotations

import email.utils

import pytest

from paracle_engine.errors import AuthenticationError, BadInputError, ProviderError, RateLimitError
from paracle_engine.providers import http_status


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds_and_milliseconds(
    headers: dict[str, str], expected: float | None
) -> None:
    assert http_status.retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    now = 1_764_300_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert http_status.retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert http_status.retry_after({"retry-after": past}, now=now) == 0.0


def test_should_retry_header() -> None:
    assert http_status.should_retry({"x-should-retry": "true"}) is True
    assert http_status.should_retry({"x-should-retry": "False"}) is False
    assert http_status.should_retry({}) is None


def test_origin_always_has_a_port() -> None:
    assert http_status.origin("https://api.anthropic.com") == "https://api.anthropic.com:443"
    assert http_status.origin("http://localhost:11434/v1") == "http://localhost:11434"
    assert http_status.origin("http://example.test/v1") == "http://example.test:80"


def test_error_fields_of_both_wire_formats() -> None:
    anthropic = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert http_status.error_fields(anthropic) == ("overloaded_error", "Overloaded")
    openai = {"error": {"message": "bad model", "type": None, "code": "model_not_found"}}
    assert http_status.error_fields(openai) == ("model_not_found", "bad model")
    assert http_status.error_fields({"error": "not found"}) == (None, "not found")
    assert http_status.error_fields("<html>502</html>") == (None, "<html>502</html>")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (429, RateLimitError),
        (500, ProviderError),
    ],
)
def test_status_error_class_and_fields(status: int, kind: type[ProviderError]) -> None:
    err = http_status.status_error(
        provider="openai",
        endpoint="https://api.openai.com:443",
        status=status,
        headers={"retry-after": "3"},
        body={"error": {"type": "x_error", "message": "key sk-live-123 refused\nagain"}},
        key_env="OPENAI_API_KEY",
        secret="sk-live-123",
    )
    assert type(err) is kind
    assert (err.provider, err.status, err.error_type, err.retry_after) == (
        "openai",
        status,
        "x_error",
        3.0,
    )
    assert "sk-live-123" not in err.one_line()
    assert "\n" not in err.message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:99999", "the port is not a number from 1 to 65535"),
        ("http://127.0.0.1:port/v1", "the port is not a number from 1 to 65535"),
        ("ftp://127.0.0.1:21", "the scheme is 'ftp', not http or https"),
        ("localhost:11434", "not http or https"),
        ("http:///v1", "it names no host"),
        ("http://127.0.0.1:0/v1", "port 0"),
    ],
)
def test_an_unusable_base_url_is_bad_input_naming_its_source(url: str, problem: str) -> None:
    with pytest.raises(BadInputError) as caught:
        http_status.check_base_url(url, source="base_urls.ollama in config.toml")
    text = caught.value.one_line()
    assert text.startswith("base_urls.ollama in config.toml: ") and problem in text
    assert caught.value.exit_code == 2


def test_a_usable_base_url_passes_and_credentials_are_never_shown() -> None:
    for url in ("http://localhost:11434/v1", "https://api.example.com", "http://[::1]:8080/v1"):
        assert http_status.check_base_url(url) == url
    with pytest.raises(BadInputError) as caught:
        http_status.check_base_url("ftp://alice:hunter2@example.com/")
    assert "hunter2" not in caught.value.one_line() and "***@example.com" in caught.value.one_line()


def test_a_value_too_short_to_be_a_key_does_not_garble_the_message() -> None:
    assert http_status.scrub("Error code explanation", "x") == "Error code explanation"
    assert (
        http_status.scrub("key sk-ant-0123456789 echoed", "sk-ant-0123456789") == "key *** echoed"
    )
