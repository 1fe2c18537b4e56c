"""Fixtures of the app's tests: a private PARACLE_HOME, no real keys, an in-memory keyring."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from harness import write_workspace
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from paracle_engine.providers.catalog import PROVIDERS


class MemoryKeyring(KeyringBackend):
    """A working keyring that keeps its entries in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise PasswordDeleteError("not found") from None


@pytest.fixture(autouse=True)
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """History, config and exports under tmp_path; UTC; the person's own keys kept out."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARACLE_HOME", str(home))
    for info in PROVIDERS.values():
        if info.key_env:
            monkeypatch.delenv(info.key_env, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield home
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory keyring; the OS keyring is never touched."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "ws")
