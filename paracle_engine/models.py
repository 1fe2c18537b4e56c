"""The engine's data: workspace specs (pydantic) and the small records of a run.

Specs are pydantic models that keep unknown keys (a Paracle manifest carries many fields
this engine does not act on). Records on the hot path of a stream are slotted dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------- specs


class SourceLocation(BaseModel):
    """Where a spec came from, so every error can name the file and line."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str | None = None
    line: int | None = None


class AgentSpec(BaseModel):
    """An agent as the engine runs it: inheritance resolved, system prompt assembled."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str
    name: str | None = None
    description: str | None = None
    provider: str = "anthropic"
    model: str = "claude-sonnet-4.5"
    temperature: float | None = 0.7
    max_tokens: int = 4096
    base_url: str | None = None
    system_prompt: str = ""
    spec_file: str | None = None
    parent: str | None = None
    tools: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    # Fields this engine keeps and shows but does not act on (role, responsibilities...).
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Where the agent was defined: "workspace", "demo" or "saved" (made in the app).
    origin: Literal["workspace", "demo", "saved"] = "workspace"
    # The chain of ancestors, nearest first, as inheritance resolved it.
    lineage: list[str] = Field(default_factory=list)
    source: SourceLocation = Field(default_factory=SourceLocation)

    @property
    def label(self) -> str:
        return self.name or self.id


class InputSpec(BaseModel):
    """A declared workflow input."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = "string"
    description: str | None = None
    required: bool = False
    default: Any = None
    has_default: bool = False
    enum: list[Any] | None = None


class StepConfig(BaseModel):
    """Per-step overrides of the agent's settings."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    base_url: str | None = None


class RetrySpec(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    max_attempts: int = 1


class StepSpec(BaseModel):
    """One step of a workflow."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str
    name: str | None = None
    description: str | None = None
    agent: str | None = None
    prompt: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    condition: str | None = None
    config: StepConfig = Field(default_factory=StepConfig)
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    requires_approval: bool = False
    retry: RetrySpec | None = None
    timeout: float | None = None
    validation: dict[str, Any] = Field(default_factory=dict)
    source: SourceLocation = Field(default_factory=SourceLocation)
    # Line of each field of the step, for precise errors ("depends_on" -> 42).
    field_lines: dict[str, int] = Field(default_factory=dict)


class OutputSpec(BaseModel):
    """A workflow-level output: a `source` reference or a `value` template."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    source: str | None = None
    value: str | None = None
    description: str | None = None


class ParallelSettings(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    enabled: bool = True
    max_concurrent: int = 4


class WorkflowSettings(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    timeout: float | None = None
    max_retries: int = 0
    retry_on_failure: bool = False
    parallel_execution: ParallelSettings = Field(default_factory=ParallelSettings)


class WorkflowSpec(BaseModel):
    """A parsed workflow file. `validate_workflow` checks it against a workspace."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str
    description: str | None = None
    version: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(default_factory=list)
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    on_failure: Literal["fail_fast", "continue"] = "fail_fast"
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: SourceLocation = Field(default_factory=SourceLocation)
    # Non-fatal notes found while loading (fields kept but not acted on).
    warnings: list[str] = Field(default_factory=list)
    # Line of each top-level key, and of "inputs.NAME" / "outputs.NAME", for precise errors.
    field_lines: dict[str, int] = Field(default_factory=dict)

    def step(self, step_id: str) -> StepSpec:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


# --------------------------------------------------------------------------- calls


@dataclass(slots=True)
class Usage:
    """Tokens one call (or a sum of calls) consumed."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass(slots=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(slots=True)
class CompletionRequest:
    """What a provider is asked: one conversation, one model."""

    model: str
    messages: list[Message]
    system: str = ""
    temperature: float | None = None
    max_tokens: int = 4096
    # Named outputs the answer must end with (the simulated provider honours this itself).
    output_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StreamChunk:
    """One piece of a streamed answer: text, or final usage, or both."""

    text: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None


@dataclass(slots=True)
class CompletionResult:
    text: str
    usage: Usage
    model: str
    provider: str
    stop_reason: str | None = None


# --------------------------------------------------------------------------- runs


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    # The process died while the step ran; the history marks it at the next start.
    INTERRUPTED = "interrupted"


@dataclass(slots=True)
class AgentRunResult:
    run_id: str
    agent: str
    provider: str
    model: str
    output: str
    usage: Usage
    status: RunStatus = RunStatus.COMPLETED
    error: str | None = None


@dataclass(slots=True)
class StepResult:
    step_id: str
    status: StepStatus = StepStatus.PENDING
    output: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    reason: str | None = None


@dataclass(slots=True)
class WorkflowResult:
    run_id: str
    workflow: str
    status: RunStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepResult] = field(default_factory=dict)
    error: str | None = None

    @property
    def usage(self) -> Usage:
        total = Usage()
        for s in self.steps.values():
            total = total + s.usage
        return total
