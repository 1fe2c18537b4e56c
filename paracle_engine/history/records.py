"""What the history gives back to the fronts: plain records of runs, steps, messages and hits."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from paracle_engine.models import StepResult, StepStatus, Usage


def parse_json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


@dataclass(slots=True)
class RunSummary:
    """One row of `paracle history list`."""

    id: str
    kind: str
    target: str
    status: str
    task: str | None
    provider: str | None
    model: str | None
    started_at: float
    ended_at: float | None
    usage: Usage
    error: str | None = None
    resume_count: int = 0

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunSummary:
        return cls(
            id=row["id"],
            kind=row["kind"],
            target=row["target"],
            status=row["status"],
            task=row["task"],
            provider=row["provider"],
            model=row["model"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
            usage=Usage(row["input_tokens"], row["output_tokens"]),
            error=row["error"],
            resume_count=row["resume_count"],
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration"] = self.duration
        return data


@dataclass(slots=True)
class MessageRecord:
    id: int
    step_id: str
    attempt: int
    role: str  # system, user or assistant
    content: str
    created_at: float


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call of a step: what was asked, what was decided, how it ended.

    `status` is ``running`` or ``waiting`` (for a person) while it lasts, then ``ok``,
    ``error``, ``denied``, ``cancelled``, or ``interrupted`` when its process died mid-call.
    `result` is what the model got back, cut at the history's cap when `truncated`.
    """

    id: int
    step_id: str
    attempt: int
    call_id: str
    round: int
    name: str
    arguments: dict[str, Any]
    summary: str
    decision: str | None
    rule: str | None
    status: str
    result: str | None
    truncated: bool
    started_at: float
    duration: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ToolCallRecord:
        return cls(
            id=row["id"],
            step_id=row["step_id"],
            attempt=row["attempt"],
            call_id=row["call_id"],
            round=row["round"],
            name=row["name"],
            arguments=parse_json(row["arguments"], {}),
            summary=row["summary"],
            decision=row["decision"],
            rule=row["rule"],
            status=row["status"],
            result=row["result"],
            truncated=bool(row["truncated"]),
            started_at=row["started_at"],
            duration=row["duration"],
        )


@dataclass(slots=True)
class StepRecord:
    step_id: str
    status: str
    agent: str | None
    provider: str | None
    model: str | None
    depends_on: list[str]
    output: str | None
    outputs: dict[str, Any]
    error: str | None
    reason: str | None
    attempts: int
    usage: Usage
    started_at: float | None
    ended_at: float | None
    messages: list[MessageRecord] = field(default_factory=list)
    # In the order they started.
    tool_calls: list[ToolCallRecord] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StepRecord:
        return cls(
            step_id=row["step_id"],
            status=row["status"],
            agent=row["agent"],
            provider=row["provider"],
            model=row["model"],
            depends_on=parse_json(row["depends_on"], []),
            output=row["output"],
            outputs=parse_json(row["outputs"], {}),
            error=row["error"],
            reason=row["reason"],
            attempts=row["attempts"],
            usage=Usage(row["input_tokens"], row["output_tokens"]),
            started_at=row["started_at"],
            ended_at=row["ended_at"],
        )

    @classmethod
    def unknown(cls, step_id: str) -> StepRecord:
        """A step known only from its messages."""
        return cls(
            step_id, "unknown", None, None, None, [], None, {}, None, None, 0, Usage(), None, None
        )

    def to_result(self) -> StepResult:
        """The step as the workflow scheduler knows it."""
        try:
            status = StepStatus(self.status)
        except ValueError:
            status = StepStatus.PENDING
        return StepResult(
            step_id=self.step_id,
            status=status,
            output=self.output or "",
            outputs=dict(self.outputs),
            started_at=self.started_at,
            ended_at=self.ended_at,
            attempts=self.attempts,
            usage=Usage(self.usage.input_tokens, self.usage.output_tokens),
            error=self.error,
            reason=self.reason,
        )


@dataclass(slots=True)
class UsageRecord:
    """Tokens of one provider call."""

    step_id: str
    provider: str | None
    model: str | None
    usage: Usage
    ts: float


@dataclass(slots=True)
class EventRecord:
    step_id: str | None
    type: str
    ts: float
    data: dict[str, Any]


@dataclass(slots=True)
class RunDetail:
    """A whole run: what `paracle history show` prints and `export` writes."""

    run: RunSummary
    inputs: dict[str, Any]
    source: str | None
    step_ids: list[str]
    edges: dict[str, list[str]]
    output: str | None
    outputs: dict[str, Any]
    steps: list[StepRecord]
    usage_calls: list[UsageRecord]
    events: list[EventRecord]

    def step(self, step_id: str) -> StepRecord:
        for s in self.steps:
            if s.step_id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        data = self.run.to_dict()
        data.update(
            inputs=self.inputs,
            source=self.source,
            step_ids=self.step_ids,
            edges=self.edges,
            output=self.output,
            outputs=self.outputs,
            steps=[asdict(s) for s in self.steps],
            usage_calls=[asdict(u) for u in self.usage_calls],
            events=[asdict(e) for e in self.events],
        )
        return data


@dataclass(slots=True)
class SearchHit:
    """The best match of one run: a message, or a tool call (`role` ``tool result`` when the
    match is in its result, else ``tool call``; `tool` names the tool). `snippet` marks
    matches with « and »."""

    run_id: str
    step_id: str
    role: str
    snippet: str
    kind: str
    target: str
    status: str
    started_at: float
    rank: float
    tool: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ResumeState:
    """What a resumed workflow run needs: its spec's file, its inputs and the finished steps."""

    run_id: str
    kind: str
    workflow: str
    source: str | None
    inputs: dict[str, Any]
    status: str
    step_ids: list[str]
    # Every recorded step, and the completed ones (whose outputs feed the remaining steps).
    steps: dict[str, StepResult]
    completed: dict[str, StepResult]
    # Steps cut short by a stopped process, with the note saying they re-run from their start.
    notes: dict[str, str] = field(default_factory=dict)
