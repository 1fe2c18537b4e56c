"""The engine's data: workspace specs (pydantic) and the small records of a run.

Specs are pydantic models that keep unknown keys (a Paracle manifest carries many fields
this engine does not act on). Records on the hot path of a stream are slotted dataclasses.
"""

from __future__ import annotations

import json
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


class StopReason(StrEnum):
    """Why an answer ended, the same words for every provider (Anthropic's spelling).

    `normalise_stop_reason` maps what a server sent (OpenAI's ``stop``, ``length``,
    ``tool_calls``...) onto these; anything it does not know is OTHER.
    """

    END_TURN = "end_turn"
    TOOL_USE = "tool_use"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    REFUSAL = "refusal"
    PAUSE_TURN = "pause_turn"
    OTHER = "other"


_STOP_WORDS: dict[str, StopReason] = {
    "end_turn": StopReason.END_TURN,
    "stop": StopReason.END_TURN,
    "eos": StopReason.END_TURN,
    "tool_use": StopReason.TOOL_USE,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "max_tokens": StopReason.MAX_TOKENS,
    "length": StopReason.MAX_TOKENS,
    "model_context_window_exceeded": StopReason.MAX_TOKENS,
    "stop_sequence": StopReason.STOP_SEQUENCE,
    "refusal": StopReason.REFUSAL,
    "content_filter": StopReason.REFUSAL,
    "pause_turn": StopReason.PAUSE_TURN,
}


def normalise_stop_reason(raw: str | None, *, has_tool_calls: bool = False) -> StopReason | None:
    """The StopReason for what a server sent; None when it sent none and called no tool.

    An answer that asked for tools but ended "normally" (no reason, or ``stop``, as some
    OpenAI-compatible servers say) is TOOL_USE: the tool calls are what the caller must act on.
    """
    reason = _STOP_WORDS.get(raw.strip().lower(), StopReason.OTHER) if raw else None
    if has_tool_calls and reason in (None, StopReason.END_TURN):
        return StopReason.TOOL_USE
    return reason


@dataclass(slots=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does, and a JSON Schema of its input."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(slots=True)
class ToolCall:
    """One tool call the model asked for, complete (its block or delta pieces ended).

    ``raw_arguments`` is the JSON text as the model wrote it. ``arguments`` is that text
    parsed, or None when it is not a JSON object; then ``error`` says why, so the caller can
    send an error result back to the model rather than run the tool.
    """

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str = ""
    error: str | None = None

    @classmethod
    def parse(cls, id: str, name: str, raw_arguments: str) -> ToolCall:
        """A call from its raw argument text: empty text is ``{}``, anything not a JSON
        object is an error."""
        text = raw_arguments.strip()
        if not text:
            return cls(id, name, {}, raw_arguments)
        try:
            value = json.loads(text)
        except ValueError as exc:
            return cls(id, name, None, raw_arguments, f"the arguments are not valid JSON: {exc}")
        if not isinstance(value, dict):
            kind = type(value).__name__
            return cls(
                id, name, None, raw_arguments, f"the arguments are a JSON {kind}, not an object"
            )
        return cls(id, name, value, raw_arguments)


@dataclass(slots=True)
class ToolResult:
    """What running a tool gave, for the call with ``tool_call_id``."""

    tool_call_id: str
    content: str
    is_error: bool = False


@dataclass(slots=True)
class Message:
    """One turn of a conversation, in no provider's format (each provider writes its own).

    ``content`` is the turn's text. An assistant turn may carry the ``tool_calls`` it made;
    the user turn after it carries their ``tool_results`` (and may add text).
    """

    role: Literal["user", "assistant"]
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)

    @classmethod
    def with_results(cls, results: list[ToolResult], text: str = "") -> Message:
        """The user turn that answers an assistant turn's tool calls."""
        return cls("user", text, tool_results=list(results))


@dataclass(slots=True)
class CompletionRequest:
    """What a provider is asked: one conversation, one model, and the tools it may call.

    Round 2 of a tool loop: ``messages + [result.as_message(), Message.with_results(...)]``.
    """

    model: str
    messages: list[Message]
    system: str = ""
    temperature: float | None = None
    max_tokens: int = 4096
    # Named outputs the answer must end with (the simulated provider honours this itself).
    output_keys: list[str] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)


@dataclass(slots=True)
class StreamChunk:
    """One piece of a streamed answer: text, a complete tool call, or final usage.

    ``stop_reason`` (on the last chunk) is the value the server sent, as it sent it.
    """

    text: str = ""
    usage: Usage | None = None
    stop_reason: str | None = None
    tool_call: ToolCall | None = None


@dataclass(slots=True)
class CompletionResult:
    """One whole answer. ``stop_reason`` is what the server sent; `stop` the normalised word."""

    text: str
    usage: Usage
    model: str
    provider: str
    stop_reason: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def stop(self) -> StopReason | None:
        """Why the answer ended, normalised (TOOL_USE whenever it asked for tools)."""
        return normalise_stop_reason(self.stop_reason, has_tool_calls=bool(self.tool_calls))

    def as_message(self) -> Message:
        """This answer as the assistant turn of the next request's history."""
        return Message("assistant", self.text, tool_calls=list(self.tool_calls))


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
