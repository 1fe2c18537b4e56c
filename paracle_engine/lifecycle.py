"""The one publisher of a run's lifecycle: its start and end, and how each of its steps ends.

A workflow run (`workflow.scheduler`, `workflow.step`) and a one-agent run
(`Engine.execute_agent`, a run of one step named after the agent) both announce themselves
and their steps' outcomes through `RunLifecycle`, so the history writer, the TUI bridge and
the CLI see the same events, built the same way, whichever kind of run it is. What happens
during one call (StepStarted, TextDelta, UsageReported) is the Executor's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from paracle_engine.events import (
    EventBus,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepCancelled,
    StepCompleted,
    StepFailed,
)
from paracle_engine.models import StepResult, StepStatus, Usage


@dataclass(frozen=True, slots=True)
class RunLifecycle:
    """Publishes one run's lifecycle events on `bus`, and marks each step's result as it ends."""

    bus: EventBus
    run_id: str

    def started(
        self,
        *,
        kind: str,
        target: str,
        edges: Mapping[str, Sequence[str]],
        inputs: Mapping[str, Any] | None = None,
        task: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        source: str | None = None,
        resumed: bool = False,
    ) -> None:
        """The run began; `edges` maps each step id, in order, to the steps it waits for."""
        self.bus.publish(
            RunStarted(
                run_id=self.run_id,
                kind=kind,
                target=target,
                inputs=dict(inputs or {}),
                task=task,
                provider=provider,
                model=model,
                step_ids=list(edges),
                edges={k: list(v) for k, v in edges.items()},
                source=source,
                resumed=resumed,
            )
        )

    def step_completed(self, res: StepResult) -> None:
        res.status = StepStatus.COMPLETED
        res.ended_at = time.time()
        self.bus.publish(
            StepCompleted(
                run_id=self.run_id,
                step_id=res.step_id,
                output=res.output,
                outputs=res.outputs,
                usage=res.usage,
                attempts=res.attempts,
                ts=res.ended_at,
            )
        )

    def step_failed(self, res: StepResult, error: str) -> None:
        res.status = StepStatus.FAILED
        res.error = error
        res.ended_at = time.time()
        self.bus.publish(
            StepFailed(
                run_id=self.run_id,
                step_id=res.step_id,
                error=error,
                partial=res.output,
                attempts=max(1, res.attempts),
                ts=res.ended_at,
            )
        )

    def step_cancelled(self, res: StepResult) -> None:
        res.status = StepStatus.CANCELLED
        res.ended_at = time.time()
        self.bus.publish(
            StepCancelled(
                run_id=self.run_id, step_id=res.step_id, partial=res.output, ts=res.ended_at
            )
        )

    def completed(
        self, output: str, usage: Usage, outputs: Mapping[str, Any] | None = None
    ) -> None:
        self.bus.publish(
            RunCompleted(
                run_id=self.run_id, output=output, outputs=dict(outputs or {}), usage=usage
            )
        )

    def failed(self, error: str, usage: Usage) -> None:
        self.bus.publish(RunFailed(run_id=self.run_id, error=error, usage=usage))

    def cancelled(self, usage: Usage) -> None:
        self.bus.publish(RunCancelled(run_id=self.run_id, usage=usage))
