"""Which provider object answers for an agent: built once per (name, base URL), then reused.

The registry decides the effective provider (``--provider`` wins over everything), the base
URL (agent, then config.toml, then the provider's environment variable, then the default)
and the API key (a `KeySource`), and owns one pooled HTTP client per base URL.
"""

from __future__ import annotations

import asyncio
import os
from typing import Protocol, runtime_checkable

import httpx

from paracle_engine.config import Settings
from paracle_engine.errors import BadInputError, MissingKeyError, ProviderError
from paracle_engine.providers import http_status
from paracle_engine.providers.base import LLMProvider
from paracle_engine.providers.catalog import PROVIDERS, ProviderInfo
from paracle_engine.providers.openai_compat import OpenAICompatProvider, new_http_client
from paracle_engine.providers.simulated import SimulatedProvider

# Importing the Anthropic SDK takes over a second; more than this means something is wrong.
_SDK_IMPORT_TIMEOUT = 60.0


@runtime_checkable
class KeySource(Protocol):
    """Where API keys come from (environment, OS keyring...)."""

    async def get(self, provider: str) -> str | None: ...


class EnvKeySource:
    """Keys from each provider's usual environment variable (``ANTHROPIC_API_KEY``...)."""

    async def get(self, provider: str) -> str | None:
        info = PROVIDERS.get(provider)
        if info is None or info.key_env is None:
            return None
        return os.environ.get(info.key_env) or None


class ProviderRegistry:
    """Builds, caches and closes providers. One per (name, base URL); one HTTP pool per URL."""

    def __init__(
        self,
        settings: Settings,
        keys: KeySource | None = None,
        *,
        force_provider: str | None = None,
        simulated_pace: float | None = None,
    ) -> None:
        self.settings = settings
        self.keys: KeySource = keys if keys is not None else EnvKeySource()
        self.force_provider = force_provider
        self.simulated_pace = settings.simulated_pace if simulated_pace is None else simulated_pace
        self._providers: dict[tuple[str, str | None], LLMProvider] = {}
        self._locks: dict[tuple[str, str | None], asyncio.Lock] = {}
        self._clients: dict[str, httpx.AsyncClient] = {}

    def resolve(self, agent_provider: str) -> str:
        """The provider that really answers: ``--provider``, then config's, then the agent's."""
        return self.force_provider or self.settings.provider or agent_provider

    def info(self, name: str) -> ProviderInfo:
        """The catalog entry of ``name``; unknown names are the person's mistake."""
        info = PROVIDERS.get(name)
        if info is None:
            known = ", ".join(PROVIDERS)
            raise BadInputError(f"unknown provider {name!r}", hint=f"use one of: {known}")
        return info

    def base_url(self, name: str, agent_base_url: str | None = None) -> str | None:
        """The base URL for ``name``: the agent's, config.toml's, the environment's, the default."""
        return self._base_url(name, agent_base_url)[0]

    def _base_url(self, name: str, agent_base_url: str | None) -> tuple[str | None, str | None]:
        """The base URL for ``name`` and where it came from, for an error about it."""
        info = self.info(name)
        if info.kind == "simulated":
            return None, None
        env = os.environ.get(info.base_url_env) if info.base_url_env else None
        if agent_base_url:
            return agent_base_url, f"the base_url of the agent (or step) using {name}"
        if configured := self.settings.base_urls.get(name):
            return configured, f"base_urls.{name} in config.toml"
        if env:
            return env, info.base_url_env
        return info.default_base_url, None

    async def get(self, name: str, *, base_url: str | None = None) -> LLMProvider:
        """The provider for an agent that names ``name`` (and perhaps its own ``base_url``).

        When ``--provider`` or config.toml replaces ``name``, the agent's base URL is dropped:
        it belonged to the provider the agent named.
        """
        effective = self.resolve(name)
        if effective != name:
            base_url = None
        info = self.info(effective)
        key = self._key(effective, base_url)
        url = key[1]
        if (cached := self._providers.get(key)) is not None:
            return cached
        async with self._locks.setdefault(key, asyncio.Lock()):
            if (cached := self._providers.get(key)) is None:
                cached = self._providers[key] = await self._build(info, url)
            return cached

    def install(self, name: str, provider: LLMProvider, *, base_url: str | None = None) -> None:
        """Answer ``get(name)`` (at ``base_url``, resolved as ``get`` resolves it) with
        ``provider`` rather than one built here: a front or a test that brings its own.

        The registry owns it from then on and closes it with the others. Only before the
        first ``get`` of that provider: one already built may be streaming."""
        key = self._key(name, base_url)
        if key in self._providers:
            raise ValueError(f"provider {name!r} is already built; install it before first use")
        self._providers[key] = provider

    def _key(self, name: str, base_url: str | None) -> tuple[str, str | None]:
        """The cache key of ``name`` at ``base_url``: the name and its checked base URL."""
        url, source = self._base_url(name, base_url)
        if url is not None:
            # A port out of range, another scheme, no host: exit 2 now, before any request.
            url = http_status.check_base_url(url, source=source)
        return (name, url)

    async def _build(self, info: ProviderInfo, url: str | None) -> LLMProvider:
        if info.kind == "simulated":
            return SimulatedProvider(pace=self.simulated_pace)
        api_key = await self.keys.get(info.name)
        if info.needs_key and not api_key:
            where = f", set {info.key_env}" if info.key_env else ""
            # A keyring that could not be read says why (locked, no backend, timed out).
            keyring_error = getattr(self.keys, "last_error", None)
            why = f" ({keyring_error})" if keyring_error else ""
            raise MissingKeyError(
                f"no API key for {info.name}{why}",
                hint=f"run `paracle keys set {info.name}`{where}, or use --provider simulated",
            )
        timeouts = self.settings.timeouts
        if info.kind == "anthropic":
            return await self._build_anthropic(api_key or "", url)
        if url is None:
            raise BadInputError(
                f"no base URL for {info.name}",
                hint=f"set base_url on the agent, base_urls.{info.name} in config.toml"
                + (f", or {info.base_url_env}" if info.base_url_env else ""),
            )
        client = self._clients.get(url)
        if client is None:
            client = self._clients[url] = new_http_client(
                connect_timeout=timeouts.connect, read_timeout=timeouts.total
            )
        return OpenAICompatProvider(
            info.name,
            url,
            api_key,
            client=client,
            key_env=info.key_env,
            max_answer_chars=self.settings.providers.max_answer_chars,
        )

    async def _build_anthropic(self, api_key: str, url: str | None) -> LLMProvider:
        from paracle_engine.providers import anthropic as anthropic_provider

        try:
            await asyncio.wait_for(
                asyncio.to_thread(anthropic_provider.load_sdk), _SDK_IMPORT_TIMEOUT
            )
        except (ImportError, TimeoutError) as exc:
            raise ProviderError(
                f"cannot load the Anthropic SDK: {str(exc) or 'import timed out'}",
                provider="anthropic",
                hint="reinstall Paracle, or use --provider simulated",
            ) from exc
        return anthropic_provider.AnthropicProvider(
            api_key,
            url,
            connect_timeout=self.settings.timeouts.connect,
            read_timeout=self.settings.timeouts.total,
            max_answer_chars=self.settings.providers.max_answer_chars,
        )

    async def forget(self, name: str) -> None:
        """Close and drop the cached providers of ``name`` (say, after its key changed)."""
        for key in [k for k in self._providers if k[0] == name]:
            await self._providers.pop(key).aclose()

    async def aclose(self) -> None:
        """Close every provider and every pooled HTTP client."""
        providers, self._providers = list(self._providers.values()), {}
        clients, self._clients = list(self._clients.values()), {}
        # One failing close must not leave the others open.
        await asyncio.gather(
            *(p.aclose() for p in providers), *(c.aclose() for c in clients), return_exceptions=True
        )
