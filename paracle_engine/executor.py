"""One call of one agent: resolve provider and model, stream through the resilience layer,
publish what happens. The scheduler and the Engine build runs out of these calls."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING

from paracle_engine.events import EventBus, StepStarted, TextDelta, UsageReported
from paracle_engine.models import (
    AgentSpec,
    CompletionRequest,
    CompletionResult,
    Message,
    StepConfig,
    Usage,
)

if TYPE_CHECKING:
    from paracle_engine.providers.registry import ProviderRegistry
    from paracle_engine.resilience.policy import ResiliencePolicy


class Executor:
    """Runs single agent calls. Holds no state between calls besides its collaborators."""

    def __init__(
        self,
        *,
        providers: ProviderRegistry,
        policy: ResiliencePolicy,
        bus: EventBus,
        model_override: str | None = None,
    ) -> None:
        self.providers = providers
        self.policy = policy
        self.bus = bus
        self.model_override = model_override

    def plan(self, agent: AgentSpec, config: StepConfig | None = None) -> tuple[str, str]:
        """The provider name and model a call of `agent` would use."""
        cfg = config or StepConfig()
        provider = self.providers.resolve(cfg.provider or agent.provider)
        model = self.model_override or cfg.model or agent.model
        return provider, model

    async def call(
        self,
        *,
        run_id: str,
        step_id: str,
        agent: AgentSpec,
        prompt: str,
        config: StepConfig | None = None,
        output_keys: Sequence[str] = (),
        attempt: int = 1,
        text: list[str] | None = None,
    ) -> CompletionResult:
        """Stream one answer of `agent` to `prompt`.

        Each text chunk is appended to `text` as it arrives, so a caller whose call fails or
        is cancelled still holds the partial answer. Publishes StepStarted, TextDelta and
        UsageReported; the caller publishes the step's outcome.
        """
        cfg = config or StepConfig()
        provider_name, model = self.plan(agent, cfg)
        provider = await self.providers.get(provider_name, base_url=cfg.base_url or agent.base_url)
        system = cfg.system_prompt if cfg.system_prompt else agent.system_prompt
        request = CompletionRequest(
            model=model,
            messages=[Message("user", prompt)],
            system=system,
            temperature=cfg.temperature if cfg.temperature is not None else agent.temperature,
            max_tokens=cfg.max_tokens or agent.max_tokens,
            output_keys=list(output_keys),
        )
        publish = self.bus.publish
        publish(
            StepStarted(
                run_id=run_id,
                step_id=step_id,
                agent=agent.id,
                provider=provider.name,
                model=model,
                attempt=attempt,
                system_prompt=system,
                prompt=prompt,
            )
        )
        parts = text if text is not None else []
        start = len(parts)
        usage = Usage()
        stop_reason: str | None = None
        stream = self.policy.stream(provider, request, run_id=run_id, step_id=step_id)
        async with aclosing(stream):
            async for chunk in stream:
                if chunk.text:
                    parts.append(chunk.text)
                    publish(TextDelta(run_id=run_id, step_id=step_id, text=chunk.text))
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.stop_reason:
                    stop_reason = chunk.stop_reason
        publish(
            UsageReported(
                run_id=run_id, step_id=step_id, usage=usage, provider=provider.name, model=model
            )
        )
        return CompletionResult(
            text="".join(parts[start:]),
            usage=usage,
            model=model,
            provider=provider.name,
            stop_reason=stop_reason,
        )
