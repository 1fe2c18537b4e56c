"""Every provider name an agent may use: its wire format, default base URL and key variable."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    kind: str  # "anthropic", "openai" (OpenAI-compatible) or "simulated"
    default_base_url: str | None
    key_env: str | None  # the provider's usual environment variable
    base_url_env: str | None
    needs_key: bool


PROVIDERS: dict[str, ProviderInfo] = {
    p.name: p
    for p in (
        ProviderInfo(
            "anthropic", "anthropic", None, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", True
        ),
        ProviderInfo(
            "openai",
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            True,
        ),
        ProviderInfo(
            "openai-compatible", "openai", None, "OPENAI_API_KEY", "OPENAI_BASE_URL", False
        ),
        ProviderInfo(
            "ollama",
            "openai",
            "http://localhost:11434/v1",
            "OLLAMA_API_KEY",
            "OPENAI_BASE_URL",
            False,
        ),
        ProviderInfo(
            "vllm", "openai", "http://localhost:8000/v1", "VLLM_API_KEY", "OPENAI_BASE_URL", False
        ),
        ProviderInfo(
            "lmstudio",
            "openai",
            "http://localhost:1234/v1",
            "LMSTUDIO_API_KEY",
            "OPENAI_BASE_URL",
            False,
        ),
        ProviderInfo(
            "llamacpp",
            "openai",
            "http://localhost:8080/v1",
            "LLAMACPP_API_KEY",
            "OPENAI_BASE_URL",
            False,
        ),
        ProviderInfo("simulated", "simulated", None, None, None, False),
    )
}
