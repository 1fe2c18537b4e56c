"""The history's safety net for secrets: known API key values cut out of text before it is stored."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"


def _env_secrets() -> list[str]:
    from paracle_engine.providers.catalog import PROVIDERS

    names = {p.key_env for p in PROVIDERS.values() if p.key_env}
    return [os.environ[n] for n in names if os.environ.get(n)]


class Redactor:
    """Replaces known secret values (API keys) in text before it is stored.

    A safety net: the engine never puts a key in an event, but an error message that quotes a
    request, or a prompt a person pasted a key into, must not carry it to disk.
    """

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        values = _env_secrets() if secrets is None else secrets
        # Longest first, so a key that contains another is replaced whole; short values are not keys.
        self._secrets = sorted({s for s in values if s and len(s) >= 8}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Also redact `secret` from now on (a key fetched from the keyring, say)."""
        if secret and len(secret) >= 8 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text or not self._secrets:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def json(self, value: Any) -> str:
        return self(_to_json(value)) or "null"


_to_json = json.JSONEncoder(default=str, ensure_ascii=False).encode
