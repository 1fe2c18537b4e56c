"""API keys: the provider's environment variable first, then the OS keyring.

Keys live in the OS keyring under the service ``paracle``, one entry per provider (the user
name is the provider's name), or in the provider's usual environment variable, which wins.
A key is shown only masked; it never reaches a log, a file or an exception message.

Every keyring call runs in a worker thread with a timeout: a locked Secret Service reached
over SSH can wait forever for a password prompt nobody sees.

    store = KeyStore()
    await store.status()                  # every provider: source, masked key, keyring error
    await store.set("anthropic", key)     # BadInputError, KeyringUnavailableError
    await store.delete("anthropic")       # BadInputError when nothing is stored
    await store.backend_info()            # the backend in use and whether it works
    await store.get("anthropic")          # for the provider registry: never raises
    scrub_keys(text)                      # text with every key this process knows cut out
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from paracle_engine.errors import BadInputError, one_line
from paracle_engine.providers.catalog import PROVIDERS, ProviderInfo

SERVICE = "paracle"
BACKEND_ENV = "PYTHON_KEYRING_BACKEND"

KeySourceName = Literal["env", "keyring", "none"]
T = TypeVar("T")

# Prefixes that say which provider a key belongs to; the longest match is kept when masking.
_KNOWN_PREFIXES = ("sk-ant-", "sk-proj", "sk-or-", "sk-", "gsk_", "xai-", "pplx-", "hf_")
_MASK = "…"
_HIDDEN = "••••••••"
# Below this length a key shows nothing at all: the last four would be too much of it.
_SHORTEST_SHOWN = 20
# Shorter values are not keys: cutting them out of text would only garble it.
SHORTEST_SCRUBBED = 8
# Every key read from or stored in the keyring by this process (see `known_keys`).
_SEEN_KEYS: set[str] = set()


class KeyringUnavailableError(BadInputError):
    """The OS keyring cannot be used: no backend, locked, failing or not answering in time.

    ``reason`` is ``"no-backend"``, ``"locked"``, ``"timeout"`` or ``"error"``.
    """

    def __init__(
        self, message: str, *, reason: str, env_var: str | None = None, backend: str | None = None
    ) -> None:
        self.reason = reason
        self.env_var = env_var
        self.backend = backend
        super().__init__(message, hint=_what_to_do(reason, env_var))

    def naming(self, env_var: str | None) -> KeyringUnavailableError:
        """The same failure, its hint naming another provider's environment variable."""
        return KeyringUnavailableError(
            self.message, reason=self.reason, env_var=env_var, backend=self.backend
        )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Where a provider's key comes from. ``value`` is the key itself and never shown by repr."""

    provider: str
    source: KeySourceName
    masked: str | None
    value: str | None = field(default=None, repr=False)
    env_var: str | None = None
    # One line saying why the keyring could not be read, when it could not.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """The keyring backend in use (its dotted class name) and whether it answers."""

    name: str
    ok: bool
    error: str | None = None


def mask(key: str) -> str:
    """``sk-ant-…a1b2``-style display: a known prefix (at most 7 chars) and the last 4."""
    key = key.strip()
    if len(key) < _SHORTEST_SHOWN:
        return _HIDDEN
    prefix = next(
        (p for p in sorted(_KNOWN_PREFIXES, key=len, reverse=True) if key.startswith(p)), ""
    )
    return f"{prefix}{_MASK}{key[-4:]}"


def key_providers() -> list[ProviderInfo]:
    """Every provider of the catalog that takes a key (it has a key environment variable)."""
    return [p for p in PROVIDERS.values() if p.key_env]


def provider_for_key(name: str) -> ProviderInfo:
    """The catalog entry of a provider that takes a key, or a BadInputError naming the known ones."""
    info = PROVIDERS.get(name)
    known = ", ".join(p.name for p in key_providers())
    if info is None:
        raise BadInputError(f"unknown provider {name!r}", hint=f"known providers: {known}")
    if not info.key_env:
        raise BadInputError(
            f"the {name} provider takes no API key", hint=f"providers with keys: {known}"
        )
    return info


class KeyStore:
    """API keys for the providers: environment variable first, then the OS keyring.

    ``get`` is what the provider registry calls; it never raises for a keyring that cannot be
    read, it returns None and keeps the reason in ``last_error`` for the missing-key message.
    """

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout
        #: Why the keyring could not be read the last time it was tried, or None.
        self.last_error: KeyringUnavailableError | None = None
        # A keyring call that timed out and is still running: later calls fail at once.
        self._stuck: threading.Thread | None = None

    # ------------------------------------------------------------------ reading

    async def get(self, provider: str) -> str | None:
        """The provider's key (environment, then keyring), or None when there is none."""
        info = PROVIDERS.get(provider)
        env_var = info.key_env if info else None
        if info is not None and not env_var:
            return None
        from_env = _from_env(env_var)
        if from_env:
            return from_env
        try:
            stored = await self._call(_get_password, provider, env_var=env_var)
        except KeyringUnavailableError as exc:
            self.last_error = exc
            return None
        self.last_error = None
        return _seen(_clean(stored))

    async def lookup(self, provider: str) -> KeyInfo:
        """Where the provider's key comes from, masked. Raises KeyringUnavailableError."""
        info = provider_for_key(provider)
        from_env = _from_env(info.key_env)
        if from_env:
            return KeyInfo(provider, "env", mask(from_env), from_env, info.key_env)
        stored = await self._call(_get_password, provider, env_var=info.key_env)
        return _keyring_info(info, stored)

    async def status(self) -> list[KeyInfo]:
        """Every provider that takes a key, with its source; keyring failures end up in ``error``."""
        providers = key_providers()
        env_values = {p.name: _from_env(p.key_env) for p in providers}
        wanted = [p.name for p in providers if not env_values[p.name]]
        stored: dict[str, str | None] = {}
        failure: KeyringUnavailableError | None = None
        if wanted:
            try:
                stored = await self._call(_get_passwords, wanted)
            except KeyringUnavailableError as exc:
                failure = exc
        result: list[KeyInfo] = []
        for p in providers:
            value = env_values[p.name]
            if value:
                result.append(KeyInfo(p.name, "env", mask(value), value, p.key_env))
            elif failure:
                error = failure.naming(p.key_env).one_line()
                result.append(KeyInfo(p.name, "none", None, None, p.key_env, error))
            else:
                result.append(_keyring_info(p, stored.get(p.name)))
        return result

    async def backend_info(self) -> BackendInfo:
        """The keyring backend in use and whether a read through it works."""
        try:
            name = await self.ensure_usable()
        except KeyringUnavailableError as exc:
            return BackendInfo(exc.backend or "unknown", False, exc.one_line())
        return BackendInfo(name, True)

    async def ensure_usable(self, provider: str | None = None) -> str:
        """The backend's dotted name once a read through it worked; else KeyringUnavailableError.

        Worth calling before asking a person to type a key that could not be stored.
        """
        env_var = provider_for_key(provider).key_env if provider else None
        name, failure = await self._call(_probe, env_var=env_var)
        if failure is not None:
            error = _classify(failure, env_var)
            error.backend = error.backend or name
            raise error from failure
        return name

    # ------------------------------------------------------------------ writing

    async def set(self, provider: str, key: str) -> KeyInfo:
        """Store the provider's key in the keyring, replacing any key stored before."""
        info = provider_for_key(provider)
        key = key.strip()
        if not key:
            raise BadInputError(
                f"no key given for {provider}", hint="paste the key; empty input stores nothing"
            )
        if any(ch.isspace() for ch in key):
            raise BadInputError(
                f"the key for {provider} contains spaces or line breaks",
                hint="paste the key alone, on one line",
            )
        _seen(key)
        await self._call(_set_password, provider, key, env_var=info.key_env, secret=key)
        return KeyInfo(provider, "keyring", mask(key), key, info.key_env)

    async def delete(self, provider: str) -> None:
        """Remove the provider's key from the keyring. BadInputError when none is stored."""
        info = provider_for_key(provider)
        if not await self._call(_delete_password, provider, env_var=info.key_env):
            hint = "`paracle keys status` shows where each key comes from"
            if _from_env(info.key_env):
                hint = f"the key in use comes from {info.key_env}; unset that variable to stop using it"
            raise BadInputError(f"no {provider} key is stored in the keyring", hint=hint)

    # ------------------------------------------------------------------ the thread

    async def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        env_var: str | None = None,
        secret: str | None = None,
    ) -> T:
        """Run ``fn(*args)`` in a daemon thread; any keyring failure becomes KeyringUnavailableError.

        ``secret`` is the key being stored: it is cut out of any error text, cause included.
        """
        if self._stuck is not None and self._stuck.is_alive():
            raise _timeout_error(self.timeout, env_var)
        self._stuck = None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, exc: BaseException | None) -> None:
            if done.done():  # timed out or cancelled meanwhile
                return
            if exc is None:
                done.set_result(result)
            else:
                done.set_exception(exc)

        def work() -> None:
            try:
                result, exc = fn(*args), None
            except BaseException as caught:  # handed to the loop, never lost in the thread
                result, exc = None, caught
            try:
                loop.call_soon_threadsafe(settle, result, exc)
            except RuntimeError:  # the loop closed while the keyring was still answering
                pass

        # A daemon thread, not asyncio.to_thread: the default executor's threads are joined
        # when the loop and the interpreter close, so one hung D-Bus call would hang the exit.
        thread = threading.Thread(target=work, name="paracle-keyring", daemon=True)
        thread.start()
        try:
            return await asyncio.wait_for(done, self.timeout)
        except TimeoutError:
            self._stuck = thread
            raise _timeout_error(self.timeout, env_var) from None
        except Exception as exc:
            error = _classify(exc, env_var, secret)
            if secret and secret in repr(exc):
                raise error from None
            raise error from exc


# ---------------------------------------------------------------------- in the thread


class _NoBackend(Exception):
    def __init__(self, backend: str) -> None:
        super().__init__(backend)
        self.backend = backend


def _keyring() -> Any:
    """The keyring backend in use; _NoBackend when it cannot store anything."""
    import keyring  # lazily: keeps `paracle --help` fast

    return _usable(keyring.get_keyring())


def _usable(backend: Any) -> Any:
    from keyring.backends import chainer, fail, null

    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, fail.Keyring | null.Keyring) or empty_chain:
        raise _NoBackend(_dotted(backend))
    return backend


def _dotted(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _probe() -> tuple[str, Exception | None]:
    """The backend's name, and how a read through it failed (None when it worked)."""
    import keyring

    backend = keyring.get_keyring()
    try:
        _usable(backend).get_password(SERVICE, "paracle-doctor-probe")
    except Exception as exc:
        return _dotted(backend), exc
    return _dotted(backend), None


def _get_password(provider: str) -> str | None:
    return _keyring().get_password(SERVICE, provider)


def _get_passwords(providers: list[str]) -> dict[str, str | None]:
    backend = _keyring()
    return {name: backend.get_password(SERVICE, name) for name in providers}


def _set_password(provider: str, key: str) -> None:
    _keyring().set_password(SERVICE, provider, key)


def _delete_password(provider: str) -> bool:
    """False when nothing was stored; asking first keeps "not found" apart from real failures."""
    backend = _keyring()
    if backend.get_password(SERVICE, provider) is None:
        return False
    backend.delete_password(SERVICE, provider)
    return True


# ---------------------------------------------------------------------- helpers


def known_keys() -> list[str]:
    """Every API key this process knows of, longest first: the value of each provider's
    environment variable now, and each key it read from or stored in the keyring."""
    found = {_from_env(p.key_env) for p in key_providers()} | _SEEN_KEYS
    return sorted({k for k in found if k and len(k) >= SHORTEST_SCRUBBED}, key=len, reverse=True)


def scrub_keys(text: str, replacement: str = "***") -> str:
    """``text`` with every key of :func:`known_keys` replaced: for text that leaves the
    process (a traceback, an error line) and may quote a server that echoed the key."""
    for key in known_keys():
        if key in text:
            text = text.replace(key, replacement)
    return text


def _seen(key: str | None) -> str | None:
    if key:
        _SEEN_KEYS.add(key)
    return key


def _clean(value: str | None) -> str | None:
    """A key without surrounding whitespace; None for nothing or only whitespace."""
    return (value or "").strip() or None


def _from_env(env_var: str | None) -> str | None:
    return _clean(os.environ.get(env_var)) if env_var else None


def _keyring_info(info: ProviderInfo, stored: str | None) -> KeyInfo:
    stored = _clean(stored)
    if stored:
        return KeyInfo(info.name, "keyring", mask(stored), stored, info.key_env)
    return KeyInfo(info.name, "none", None, None, info.key_env)


def _what_to_do(reason: str, env_var: str | None) -> str:
    env = env_var or "the provider's API key variable"
    unlock = "unlock the keyring, " if reason in ("locked", "timeout") else ""
    return f"{unlock}set {env} instead, or choose a keyring backend with {BACKEND_ENV}"


def _timeout_error(seconds: float, env_var: str | None) -> KeyringUnavailableError:
    return KeyringUnavailableError(
        f"the OS keyring did not answer within {seconds:g} s; it may be locked or waiting for a password prompt",
        reason="timeout",
        env_var=env_var,
    )


def _classify(
    exc: Exception, env_var: str | None, secret: str | None = None
) -> KeyringUnavailableError:
    """One clear line for a keyring failure, with ``secret`` cut out of the text."""
    from keyring.errors import KeyringLocked, NoKeyringError

    if isinstance(exc, _NoBackend | NoKeyringError):
        backend = exc.backend if isinstance(exc, _NoBackend) else "keyring.backends.fail.Keyring"
        return KeyringUnavailableError(
            "no OS keyring is available", reason="no-backend", env_var=env_var, backend=backend
        )
    if isinstance(exc, KeyringLocked):
        return KeyringUnavailableError("the OS keyring is locked", reason="locked", env_var=env_var)
    detail = one_line(exc, kind=False)
    if secret:
        detail = detail.replace(secret, mask(secret))
    return KeyringUnavailableError(
        f"the OS keyring failed: {detail}", reason="error", env_var=env_var
    )


__all__ = [
    "SERVICE",
    "BackendInfo",
    "KeyInfo",
    "KeyStore",
    "KeyringUnavailableError",
    "key_providers",
    "mask",
    "provider_for_key",
]
