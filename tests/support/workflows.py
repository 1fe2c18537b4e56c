"""A scripted stand-in for the Executor and small builders of workflow specs, for workflow tests.

`ScriptedExecutor.call` takes a StepCall, as the Executor's does. By default a step answers at once with
a sentence and a JSON object holding its declared outputs; a test scripts any step with an
async function of the call, and reads back the order in which steps started and ended.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from paracle_engine.executor import StepCall
from paracle_engine.models import (
    AgentSpec,
    CompletionResult,
    SourceLocation,
    StepConfig,
    Usage,
    WorkflowSpec,
)


@dataclass
class Call:
    step_id: str
    prompt: str
    attempt: int
    output_keys: list[str]
    text: list[str]
    agent: str
    config: StepConfig | None = None


Script = Callable[[Call], Awaitable[str]]


def answer_with(outputs: dict[str, Any], prose: str = "Done.") -> str:
    """An answer ending with a fenced JSON object of named outputs."""
    return f"{prose}\n\n```json\n{json.dumps(outputs)}\n```\n"


@dataclass
class ScriptedExecutor:
    scripts: dict[str, Script] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # ("start" | "end", step_id) in the order they happened.
    log: list[tuple[str, str]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0

    async def call(self, step: StepCall) -> CompletionResult:
        step_id, output_keys, text = step.step_id, step.output_keys, step.text
        call = Call(
            step_id, step.prompt, step.attempt, list(output_keys), text, step.agent.id, step.config
        )
        self.calls.append(call)
        self.log.append(("start", step_id))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            script = self.scripts.get(step_id)
            if script is None:
                answer = answer_with({k: f"{step_id}.{k}" for k in output_keys}, f"{step_id} done.")
            else:
                answer = await script(call)
            text.append(answer)
        finally:
            self.active -= 1
            self.log.append(("end", step_id))
        return CompletionResult(
            text=answer, usage=Usage(10, 5), model="scripted", provider="scripted"
        )

    def prompts(self, step_id: str) -> list[str]:
        return [c.prompt for c in self.calls if c.step_id == step_id]

    def index(self, what: str, step_id: str) -> int:
        return self.log.index((what, step_id))


def make_agents(*ids: str) -> dict[str, AgentSpec]:
    return {i: AgentSpec(id=i, provider="simulated", model="sim") for i in ids}


def make_spec(steps: list[dict[str, Any]], **fields: Any) -> WorkflowSpec:
    """A workflow of `steps` (dicts); each step's agent defaults to 'worker'."""
    data: dict[str, Any] = {"name": fields.pop("name", "wf"), **fields}
    data["steps"] = [{"agent": "worker", **s} for s in steps]
    data.setdefault("source", SourceLocation(file="wf.yaml", line=1))
    return WorkflowSpec.model_validate(data)
