"""KeyStore against in-memory keyring backends written with keyring's own backend API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringLocked
from support.keyrings import MemoryKeyring

from paracle_engine.errors import BadInputError
from paracle_engine.providers.catalog import PROVIDERS
from paracle_engine.secrets import (
    SERVICE,
    KeyInfo,
    KeyringUnavailableError,
    KeyStore,
    key_providers,
    mask,
)

ANTHROPIC_KEY = "sk-ant-api03-" + "Q" * 80 + "-a1b2"
OPENAI_KEY = "sk-proj-" + "Z" * 40 + "w9x8"


class LockedKeyring(MemoryKeyring):
    """What the Secret Service backend raises when the collection will not unlock."""

    def get_password(self, service: str, username: str, *password: str) -> str | None:
        self.calls += 1
        raise KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


class BrokenKeyring(MemoryKeyring):
    """A backend failing with whatever it was given in the message, the secret included."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"D-Bus said no to {password}")

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("org.freedesktop.DBus.Error.NoReply: no reply")


class HungKeyring(MemoryKeyring):
    """Every call blocks until the test releases it, like a prompt nobody answers."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.entered.set()
        self.release.wait()
        return self.entries.get((service, username))


@pytest.fixture(autouse=True)
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The person's own keys never reach these tests."""
    for info in PROVIDERS.values():
        if info.key_env:
            monkeypatch.delenv(info.key_env, raising=False)


@pytest.fixture
def use_backend() -> Iterator:
    """Install a keyring backend for the test, and put the previous one back."""
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def memory(use_backend) -> MemoryKeyring:
    return use_backend(MemoryKeyring())


@pytest.fixture
def hung(use_backend) -> Iterator[HungKeyring]:
    backend = use_backend(HungKeyring())
    yield backend
    backend.release.set()  # the stuck thread ends with the test


# ---------------------------------------------------------------------- masking


def test_mask_keeps_a_known_prefix_and_the_last_four() -> None:
    assert mask(ANTHROPIC_KEY) == "sk-ant-…a1b2"
    assert mask(OPENAI_KEY) == "sk-proj…w9x8"
    assert mask("sk-" + "a" * 45 + "b7c6") == "sk-…b7c6"


def test_mask_shows_no_prefix_it_does_not_know() -> None:
    assert mask("tok_live_" + "x" * 30 + "9z9z") == "…9z9z"


def test_mask_hides_short_keys_entirely() -> None:
    for short in ("sk-ant-abc", "secret", "0123456789abcdefghi"):
        shown = mask(short)
        assert set(shown) == {"•"}
        assert short[-4:] not in shown


# ---------------------------------------------------------------------- reading


async def test_keyring_key_is_found_and_reported_masked(memory: MemoryKeyring) -> None:
    memory.entries[(SERVICE, "anthropic")] = ANTHROPIC_KEY
    store = KeyStore()

    assert await store.get("anthropic") == ANTHROPIC_KEY
    info = await store.lookup("anthropic")
    assert (info.source, info.masked, info.value) == ("keyring", "sk-ant-…a1b2", ANTHROPIC_KEY)
    assert ANTHROPIC_KEY not in repr(info) and ANTHROPIC_KEY not in str(info)


async def test_environment_variable_wins_over_keyring(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.entries[(SERVICE, "anthropic")] = "sk-ant-from-the-keyring-0000000000"
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    store = KeyStore()

    assert await store.get("anthropic") == ANTHROPIC_KEY
    info = await store.lookup("anthropic")
    assert (info.source, info.env_var, info.masked) == ("env", "ANTHROPIC_API_KEY", "sk-ant-…a1b2")


async def test_blank_environment_variable_falls_back_to_keyring(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.entries[(SERVICE, "anthropic")] = ANTHROPIC_KEY
    monkeypatch.setenv("ANTHROPIC_API_KEY", "   ")
    assert (await KeyStore().lookup("anthropic")).source == "keyring"


async def test_no_key_anywhere(memory: MemoryKeyring) -> None:
    store = KeyStore()
    assert await store.get("openai") is None
    assert await store.lookup("openai") == KeyInfo("openai", "none", None, None, "OPENAI_API_KEY")
    assert store.last_error is None


async def test_simulated_provider_never_asks_the_keyring(memory: MemoryKeyring) -> None:
    assert await KeyStore().get("simulated") is None
    assert memory.calls == 0


async def test_status_covers_every_provider_that_takes_a_key(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.entries[(SERVICE, "anthropic")] = ANTHROPIC_KEY
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)

    status = {k.provider: k for k in await KeyStore().status()}

    assert list(status) == [p.name for p in key_providers()]
    assert "simulated" not in status
    assert (status["anthropic"].source, status["anthropic"].masked) == ("keyring", "sk-ant-…a1b2")
    assert (status["openai"].source, status["openai"].masked) == ("env", "sk-proj…w9x8")
    assert status["ollama"].source == "none" and status["ollama"].error is None


# ---------------------------------------------------------------------- writing


async def test_set_stores_and_replaces(memory: MemoryKeyring) -> None:
    store = KeyStore()
    await store.set("anthropic", "sk-ant-old-key-000000000000000000")
    info = await store.set("anthropic", f"  {ANTHROPIC_KEY}\n")

    assert memory.entries[(SERVICE, "anthropic")] == ANTHROPIC_KEY
    assert (info.source, info.masked) == ("keyring", "sk-ant-…a1b2")


@pytest.mark.parametrize("key", ["", "   ", "\n", "sk-ant-one two", "sk-ant-a\nsk-ant-b"])
async def test_set_refuses_empty_or_broken_input(memory: MemoryKeyring, key: str) -> None:
    with pytest.raises(BadInputError) as caught:
        await KeyStore().set("anthropic", key)
    assert "anthropic" in caught.value.one_line()
    assert memory.entries == {}


@pytest.mark.parametrize("provider", ["antropic", "simulated"])
async def test_set_refuses_providers_without_keys_and_names_the_known_ones(
    memory: MemoryKeyring, provider: str
) -> None:
    with pytest.raises(BadInputError) as caught:
        await KeyStore().set(provider, ANTHROPIC_KEY)
    assert "anthropic, openai" in caught.value.one_line()
    assert memory.entries == {}


async def test_delete_removes_the_key(memory: MemoryKeyring) -> None:
    memory.entries[(SERVICE, "anthropic")] = ANTHROPIC_KEY
    store = KeyStore()
    await store.delete("anthropic")
    assert memory.entries == {}
    assert (await store.lookup("anthropic")).source == "none"


async def test_delete_of_a_missing_key_says_so(
    memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BadInputError, match="no anthropic key is stored in the keyring"):
        await KeyStore().delete("anthropic")

    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    with pytest.raises(BadInputError) as caught:
        await KeyStore().delete("anthropic")
    assert "unset that variable" in caught.value.one_line()
    assert "ANTHROPIC_API_KEY" in caught.value.one_line()
    assert type(caught.value) is BadInputError


# ---------------------------------------------------------------------- an unusable keyring


def _says_what_to_do(err: KeyringUnavailableError, env_var: str = "ANTHROPIC_API_KEY") -> str:
    line = err.one_line()
    assert "\n" not in line
    assert env_var in line and "PYTHON_KEYRING_BACKEND" in line
    return line


async def test_locked_keyring_gives_one_clear_line(use_backend) -> None:
    use_backend(LockedKeyring())
    store = KeyStore()

    with pytest.raises(KeyringUnavailableError) as caught:
        await store.lookup("anthropic")
    assert caught.value.reason == "locked"
    assert isinstance(caught.value, BadInputError)
    assert "unlock the keyring" in _says_what_to_do(caught.value)

    with pytest.raises(KeyringUnavailableError, match="locked"):
        await store.set("anthropic", ANTHROPIC_KEY)


async def test_get_returns_none_and_remembers_why(use_backend) -> None:
    use_backend(LockedKeyring())
    store = KeyStore()

    assert await store.get("anthropic") is None
    assert store.last_error is not None and store.last_error.reason == "locked"
    _says_what_to_do(store.last_error)


async def test_environment_variable_works_with_a_locked_keyring(
    use_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = use_backend(LockedKeyring())
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    store = KeyStore()

    assert await store.get("anthropic") == ANTHROPIC_KEY
    assert (await store.lookup("anthropic")).source == "env"
    assert backend.calls == 0 and store.last_error is None


async def test_status_with_a_locked_keyring_reports_instead_of_raising(
    use_backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(LockedKeyring())
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)

    status = {k.provider: k for k in await KeyStore().status()}

    assert status["openai"].source == "env" and status["openai"].error is None
    assert status["anthropic"].source == "none"
    assert (
        "locked" in status["anthropic"].error and "ANTHROPIC_API_KEY" in status["anthropic"].error
    )
    assert "OLLAMA_API_KEY" in status["ollama"].error


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
async def test_no_backend_says_what_to_do(use_backend, backend: KeyringBackend) -> None:
    use_backend(backend)
    store = KeyStore()

    with pytest.raises(KeyringUnavailableError) as caught:
        await store.set("openai", OPENAI_KEY)
    assert caught.value.reason == "no-backend"
    assert "no OS keyring" in _says_what_to_do(caught.value, "OPENAI_API_KEY")

    info = await store.backend_info()
    assert not info.ok and info.name == f"{type(backend).__module__}.{type(backend).__name__}"
    assert "PYTHON_KEYRING_BACKEND" in info.error


async def test_backend_info_for_a_working_keyring(memory: MemoryKeyring) -> None:
    info = await KeyStore().backend_info()
    assert info.ok and info.error is None
    assert info.name == f"{MemoryKeyring.__module__}.MemoryKeyring"


async def test_backend_failure_never_carries_the_key(use_backend) -> None:
    use_backend(BrokenKeyring())
    with pytest.raises(KeyringUnavailableError) as caught:
        await KeyStore().set("anthropic", ANTHROPIC_KEY)

    err = caught.value
    assert err.reason == "error"
    assert ANTHROPIC_KEY not in err.one_line() and ANTHROPIC_KEY not in repr(err)
    assert err.__cause__ is None  # the backend's own message held the key
    assert "sk-ant-…a1b2" in err.one_line()

    with pytest.raises(KeyringUnavailableError, match="NoReply") as caught:
        await KeyStore().lookup("anthropic")
    assert caught.value.__cause__ is not None  # nothing secret in it: kept for --debug


# ---------------------------------------------------------------------- a keyring that hangs


async def test_hung_keyring_times_out_while_the_call_is_still_stuck(hung: HungKeyring) -> None:
    store = KeyStore(timeout=0.05)

    with pytest.raises(KeyringUnavailableError) as caught:
        await store.lookup("anthropic")

    assert caught.value.reason == "timeout"
    assert "did not answer within 0.05 s" in _says_what_to_do(caught.value)
    # The error came while the backend was still blocked: nothing waited for it.
    assert hung.entered.is_set() and not hung.release.is_set()


async def test_hung_keyring_makes_later_calls_fail_at_once(hung: HungKeyring) -> None:
    store = KeyStore(timeout=0.05)
    assert await store.get("anthropic") is None
    assert store.last_error is not None and store.last_error.reason == "timeout"

    status = await store.status()
    assert all(k.error and "did not answer" in k.error for k in status)
    assert (await store.backend_info()).ok is False
    assert hung.calls == 1  # one stuck thread, not one per call

    hung.entries[(SERVICE, "anthropic")] = ANTHROPIC_KEY
    hung.release.set()
    await _wait_until_unstuck()
    assert await store.get("anthropic") == ANTHROPIC_KEY
    assert store.last_error is None


async def _wait_until_unstuck() -> None:
    # The store's keyring calls run in threads named "paracle-keyring"; a stuck one is
    # alive until released, and ends promptly then. The join has a deadline so a bug
    # fails, not hangs.
    stuck = [t for t in threading.enumerate() if t.name == "paracle-keyring"]
    assert stuck, "no keyring thread was stuck"
    for thread in stuck:
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()


def test_a_hung_keyring_does_not_hold_the_process_at_exit(tmp_path: Path) -> None:
    """asyncio.run joins executor threads on the way out; the keyring thread must not be one."""
    script = tmp_path / "hang.py"
    script.write_text(
        "import asyncio, threading, keyring\n"
        "from keyring.backend import KeyringBackend\n"
        "from paracle_engine.secrets import KeyStore\n"
        "class Hung(KeyringBackend):\n"
        "    priority = 1\n"
        "    def get_password(self, s, u):\n"
        "        threading.Event().wait()\n"
        "    set_password = delete_password = get_password\n"
        "keyring.set_keyring(Hung())\n"
        "store = KeyStore(timeout=0.05)\n"
        "print(asyncio.run(store.get('anthropic')), store.last_error.reason)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "timeout"]
