"""Fixtures of the app's tests: a private PARACLE_HOME, no real keys, an in-memory keyring."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from harness import write_workspace
from support.keyrings import MemoryKeyring

from paracle_engine.providers.catalog import PROVIDERS


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
