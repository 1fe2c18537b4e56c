"""The provider registry: effective provider, base URL precedence, keys, caching, closing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from support.loopback import LoopbackServer, Response

from paracle_engine.config import Settings
from paracle_engine.errors import BadInputError, MissingKeyError
from paracle_engine.models import CompletionRequest, Message
from paracle_engine.providers.base import LLMProvider
from paracle_engine.providers.catalog import PROVIDERS
from paracle_engine.providers.openai_compat import OpenAICompatProvider
from paracle_engine.providers.registry import EnvKeySource, KeySource, ProviderRegistry
from paracle_engine.providers.simulated import SimulatedProvider


class DictKeys:
    """A KeySource over a dict, as the keyring-backed store would answer."""

    def __init__(self, **keys: str) -> None:
        self.keys = keys
        self.asked: list[str] = []

    async def get(self, provider: str) -> str | None:
        self.asked.append(provider)
        return self.keys.get(provider)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for info in PROVIDERS.values():
        for var in (info.key_env, info.base_url_env):
            if var:
                monkeypatch.delenv(var, raising=False)


async def test_base_url_precedence_agent_then_config_then_env_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(base_urls={"ollama": "http://127.0.0.1:1111/v1"})
    registry = ProviderRegistry(settings, DictKeys())
    try:
        assert registry.base_url("ollama", "http://127.0.0.1:2222/v1") == "http://127.0.0.1:2222/v1"
        assert registry.base_url("ollama") == "http://127.0.0.1:1111/v1"
        monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:3333/v1")
        assert registry.base_url("ollama") == "http://127.0.0.1:1111/v1"
        assert registry.base_url("vllm") == "http://127.0.0.1:3333/v1"
        monkeypatch.delenv("OPENAI_BASE_URL")
        assert registry.base_url("vllm") == "http://localhost:8000/v1"

        provider = await registry.get("ollama", base_url="http://127.0.0.1:2222/v1")
        assert isinstance(provider, OpenAICompatProvider)
        assert provider.base_url == "http://127.0.0.1:2222/v1"
        assert provider.endpoint == "http://127.0.0.1:2222"
        assert (await registry.get("ollama")).base_url == "http://127.0.0.1:1111/v1"
    finally:
        await registry.aclose()


async def test_providers_are_cached_and_share_one_client_per_base_url() -> None:
    registry = ProviderRegistry(Settings(), DictKeys())
    url = "http://127.0.0.1:4444/v1"
    try:
        ollama = await registry.get("ollama", base_url=url)
        assert await registry.get("ollama", base_url=url) is ollama
        vllm = await registry.get("vllm", base_url=url)
        assert vllm is not ollama
        assert isinstance(ollama, OpenAICompatProvider) and isinstance(vllm, OpenAICompatProvider)
        assert vllm.client is ollama.client
        other = await registry.get("ollama", base_url="http://127.0.0.1:5555/v1")
        assert isinstance(other, OpenAICompatProvider)
        assert other.client is not ollama.client
    finally:
        await registry.aclose()
    assert ollama.client.is_closed and other.client.is_closed


async def test_force_provider_replaces_every_agents_provider() -> None:
    registry = ProviderRegistry(
        Settings(), DictKeys(), force_provider="simulated", simulated_pace=0.0
    )
    try:
        assert registry.resolve("anthropic") == "simulated"
        provider = await registry.get("anthropic", base_url="http://127.0.0.1:9/v1")
        assert isinstance(provider, SimulatedProvider)
        assert provider.pace == 0.0
        assert await registry.get("ollama") is provider
    finally:
        await registry.aclose()


async def test_config_provider_overrides_agents_but_force_provider_wins() -> None:
    settings = Settings(provider="ollama", simulated_pace=0.5)
    assert ProviderRegistry(settings).resolve("anthropic") == "ollama"
    assert (
        ProviderRegistry(settings, force_provider="simulated").resolve("anthropic") == "simulated"
    )
    registry = ProviderRegistry(Settings(simulated_pace=0.5))
    assert registry.resolve("anthropic") == "anthropic"
    provider = await registry.get("simulated")
    assert isinstance(provider, SimulatedProvider) and provider.pace == 0.5
    await registry.aclose()


async def test_missing_anthropic_key_says_exactly_what_to_do() -> None:
    registry = ProviderRegistry(Settings())
    with pytest.raises(MissingKeyError) as caught:
        await registry.get("anthropic")
    assert caught.value.message == "no API key for anthropic"
    assert caught.value.hint == (
        "run `paracle keys set anthropic`, set ANTHROPIC_API_KEY, or use --provider simulated"
    )
    assert caught.value.exit_code == 2
    with pytest.raises(MissingKeyError, match="no API key for openai"):
        await registry.get("openai")


async def test_unknown_provider_lists_the_known_ones() -> None:
    registry = ProviderRegistry(Settings())
    with pytest.raises(BadInputError) as caught:
        await registry.get("gemini")
    assert "gemini" in caught.value.message
    for name in PROVIDERS:
        assert name in (caught.value.hint or "")


async def test_openai_compatible_needs_a_base_url_from_somewhere() -> None:
    registry = ProviderRegistry(Settings())
    with pytest.raises(BadInputError, match="no base URL for openai-compatible"):
        await registry.get("openai-compatible")


async def test_keys_come_from_the_key_source_and_reach_the_provider(
    loopback: LoopbackServer, fixtures_dir: Path
) -> None:
    keys = DictKeys(anthropic="sk-ant-from-store", vllm="vllm-key")
    settings = Settings(
        base_urls={"anthropic": "http://127.0.0.1:7777", "vllm": f"{loopback.url}/v1"}
    )
    registry = ProviderRegistry(settings, keys)
    try:
        anthropic = await registry.get("anthropic")
        assert isinstance(anthropic, LLMProvider)
        assert anthropic.name == "anthropic"
        assert anthropic.endpoint == "http://127.0.0.1:7777"
        vllm = await registry.get("vllm")
        assert isinstance(vllm, OpenAICompatProvider)
        # The key the store gave is the one the server sees.
        loopback.enqueue(Response.from_fixture(fixtures_dir / "openai" / "stream-text.sse"))
        request = CompletionRequest(model="m", messages=[Message("user", "Say hello")])
        async with asyncio.timeout(10):
            texts = [chunk.text async for chunk in vllm.stream(request) if chunk.text]
        assert texts == ["Hello", ", world!"]
        [sent] = loopback.requests
        assert sent.headers["authorization"] == "Bearer vllm-key"
        assert "anthropic" in keys.asked and "vllm" in keys.asked
    finally:
        await registry.aclose()


async def test_an_installed_provider_answers_get_and_is_closed_with_the_others() -> None:
    registry = ProviderRegistry(Settings(), DictKeys())
    mine = SimulatedProvider(pace=0.0)
    registry.install("simulated", mine)
    assert await registry.get("simulated") is mine
    # One already built may be streaming: it is not replaced under it.
    with pytest.raises(ValueError, match="already built"):
        registry.install("simulated", SimulatedProvider(pace=0.0))
    ollama = await registry.get("ollama")
    with pytest.raises(ValueError, match="already built"):
        registry.install("ollama", SimulatedProvider(pace=0.0))
    assert await registry.get("ollama") is ollama
    with pytest.raises(BadInputError, match="unknown provider"):
        registry.install("nope", mine)
    await registry.aclose()
    assert await registry.get("simulated") is not mine
    await registry.aclose()


async def test_env_key_source_reads_the_catalogs_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    source = EnvKeySource()
    assert isinstance(source, KeySource)
    assert await source.get("anthropic") is None
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    assert await source.get("anthropic") == "sk-ant-env"
    assert await source.get("simulated") is None
    registry = ProviderRegistry(Settings(base_urls={"anthropic": "http://127.0.0.1:7777"}))
    provider = await registry.get("anthropic")
    assert provider.name == "anthropic"
    await registry.aclose()


async def test_forget_drops_and_closes_a_providers_cached_objects() -> None:
    registry = ProviderRegistry(Settings(), DictKeys())
    first = await registry.get("ollama")
    await registry.forget("ollama")
    assert await registry.get("ollama") is not first
    await registry.aclose()


def test_importing_the_registry_does_not_import_the_anthropic_sdk() -> None:
    code = "import sys, paracle_engine.providers.registry; print('anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
