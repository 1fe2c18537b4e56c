"""One call of one agent: resolve provider and model, stream through the resilience layer,
publish what happens. The scheduler and the Engine build runs out of these calls."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class StepCall:
    """One attempt of one step, as asked of the Executor (or a stand-in): who answers what.

    Each text chunk is appended to `text` as it arrives, so whoever made the call still holds
    the partial answer when the call fails or is cancelled.
    """

    run_id: str
    step_id: str
    agent: AgentSpec
    prompt: str
    config: StepConfig | None = None
    output_keys: tuple[str, ...] = ()
    attempt: int = 1
    text: list[str] = field(default_factory=list)


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

    async def call(self, call: StepCall) -> CompletionResult:
        """Stream one answer of `call.agent` to `call.prompt`, appending to `call.text`.

        Publishes StepStarted, TextDelta and UsageReported; the caller publishes the step's
        outcome.
        """
        run_id, step_id, agent, prompt = call.run_id, call.step_id, call.agent, call.prompt
        cfg = call.config or StepConfig()
        provider_name, model = self.plan(agent, cfg)
        provider = await self.providers.get(provider_name, base_url=cfg.base_url or agent.base_url)
        system = cfg.system_prompt if cfg.system_prompt else agent.system_prompt
        request = CompletionRequest(
            model=model,
            messages=[Message("user", prompt)],
            system=system,
            temperature=cfg.temperature if cfg.temperature is not None else agent.temperature,
            max_tokens=cfg.max_tokens or agent.max_tokens,
            output_keys=list(call.output_keys),
        )
        publish = self.bus.publish
        publish(
            StepStarted(
                run_id=run_id,
                step_id=step_id,
                agent=agent.id,
                provider=provider.name,
                model=model,
                attempt=call.attempt,
                system_prompt=system,
                prompt=prompt,
            )
        )
        parts = call.text
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
