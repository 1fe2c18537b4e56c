"""Turning one batch of engine events into rows, inside the writer's transaction.

This runs on the writer connection's own thread (see `HistoryStore.write`), so a whole batch is
one trip off the event loop. Sequence numbers, open messages and attempts come from
`WriterState`, never from a query per event; the rows gathered for the end wait in a `Batch`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from paracle_engine.events import (
    Event,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepAwaitingApproval,
    StepCancelled,
    StepCompleted,
    StepEvent,
    StepFailed,
    StepPending,
    StepSkipped,
    StepStarted,
    ToolCallFinished,
    ToolCallStarted,
    ToolDecided,
    ToolDecisionNeeded,
    UsageReported,
)
from paracle_engine.history import statements as sql
from paracle_engine.history.batch import Batch
from paracle_engine.history.owner import process_owner
from paracle_engine.history.redact import Redactor
from paracle_engine.history.state import WriterRunState, WriterState
from paracle_engine.models import Usage
from paracle_engine.vocabulary import RunStatus, StepStatus

if TYPE_CHECKING:
    import sqlite3

    from paracle_engine.history.writer import TextPiece

# Fields kept out of the events table: text already stored in messages, steps, runs or tool_calls.
_BULKY = {
    "run_id",
    "step_id",
    "ts",
    "system_prompt",
    "prompt",
    "output",
    "partial",
    "text",
    "arguments",
    "result",
}
# Most characters of a tool result kept (after redaction); the row's `truncated` says when cut.
TOOL_RESULT_CAP = 64 * 1024
_TOOL_EVENTS = (ToolCallStarted, ToolDecisionNeeded, ToolDecided, ToolCallFinished)


@cache
def _timeline_fields(kind: type[Event]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.name not in _BULKY)


class BatchApplier:
    """Writes a batch of events and text pieces with the statements each one needs.

    It keeps its own per-run state (`WriterState`, `WriterRunState`) rather than folding events
    through the engine's `runs.RunState`: that fold answers "what does the run look like now",
    while the writer needs what the file needs: each step's `seq`, the id of the message its
    streamed text is appended to, the attempt it is on and whether its prompt has an answer,
    all kept in step with a transaction that can roll back, so a batch issues its SQL without
    reading rows back.
    """

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    def apply(
        self, conn: sqlite3.Connection, batch: list[Event | TextPiece], state: WriterState
    ) -> None:
        """Write `batch` on `conn`, inside the caller's transaction, updating `state`."""
        b = Batch(conn, state, time.time())
        owner = process_owner()
        # A run row for every run mentioned, so events of a run whose start was missed still land.
        runs = {item.run_id: getattr(item, "ts", b.now) for item in reversed(batch)}
        conn.executemany(sql.INSERT_RUN, [(run_id, ts, owner) for run_id, ts in runs.items()])
        for item in batch:
            if isinstance(item, Event):
                self._event(b, item, owner)
                if not isinstance(item, UsageReported):
                    b.events.append(self._event_row(item))
            else:
                self._text(b, item)
        b.finish()

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _ensure_step(b: Batch, run: WriterRunState, run_id: str, step_id: str, status: str) -> None:
        if step_id not in run.seqs:
            seq = b.state.add_step(run, step_id)
            b.conn.execute(sql.ENSURE_STEP, (run_id, step_id, seq, status))

    @staticmethod
    def _upsert_step(b: Batch, run: WriterRunState, upsert: str, params: dict[str, Any]) -> None:
        """An insert-or-update of a step row, with the seq it gets if it is new."""
        step_id = params["step"]
        seq = run.seqs.get(step_id)
        if seq is None:
            seq = b.state.add_step(run, step_id)
        b.conn.execute(upsert, {**params, "seq": seq})

    def _set_step(
        self,
        b: Batch,
        run: WriterRunState,
        e: StepEvent,
        status: str,
        fill: Usage | None = None,
        **columns: Any,
    ) -> None:
        sets = "".join(f", {name} = :{name}" for name in columns)
        params = {"status": status, "run": e.run_id, "step": e.step_id, **columns}
        # Tokens of this batch's calls go in the same statement; a final total only fills in
        # when no call counted any (so not when this batch adds some).
        added = b.step_tokens.pop((e.run_id, e.step_id), None)
        if added is not None and added[0] + added[1]:
            sets += sql.ADD_TOKENS
            params.update(add_i=added[0], add_o=added[1])
        elif fill is not None and fill.total:
            sets += sql.FILL_TOKENS
            params.update(fill_i=fill.input_tokens, fill_o=fill.output_tokens)
        update = f"UPDATE steps SET status = :status{sets} WHERE run_id = :run AND step_id = :step"
        if e.step_id in run.seqs:
            if b.conn.execute(update, params).rowcount:
                return
            # The row went away (its run was deleted): write it again.
            b.state.drop(run.seqs, e.step_id)
        self._ensure_step(b, run, e.run_id, e.step_id, status)
        b.conn.execute(update, params)

    # ------------------------------------------------------------------ text

    def _text(self, b: Batch, piece: TextPiece) -> None:
        text = self.redact("".join(piece.parts)) or ""
        run = b.state.run(b.conn, piece.run_id)
        step_id = piece.step_id
        message_id = run.messages.get(step_id)
        if message_id is not None:
            b.append_message(message_id, text)
            return
        self._ensure_step(b, run, piece.run_id, step_id, StepStatus.RUNNING)
        message_id = b.new_message(
            piece.run_id, step_id, run.attempts.get(step_id, 1), "assistant", text, b.now
        )
        b.state.put(run.messages, step_id, message_id)
        if step_id in run.answered:
            b.state.put(run.answered, step_id, True)

    def _final_text(self, b: Batch, run: WriterRunState, e: StepEvent, text: str) -> None:
        """Store a step's answer as its assistant message when no text was streamed for it."""
        step_id = e.step_id
        if not text or step_id in run.messages:
            return
        attempt = run.attempts.get(step_id, 1)
        answered = run.answered.get(step_id)
        if answered:
            return
        if answered is None:  # a step this writer did not see prompted: ask the file
            b.write_messages()
            b.conn.execute(
                sql.INSERT_ANSWER_GUARDED,
                {
                    "run": e.run_id,
                    "step": step_id,
                    "attempt": attempt,
                    "text": self.redact(text),
                    "ts": e.ts,
                },
            )
            return
        b.new_message(e.run_id, step_id, attempt, "assistant", self.redact(text) or "", e.ts)
        b.state.put(run.answered, step_id, True)

    # ------------------------------------------------------------------ events

    def _event_row(self, e: Event) -> tuple[Any, ...]:
        data: dict[str, Any] = {}
        # A class is hashable even when its instances are not (mypy reads the instances' __hash__).
        for name in _timeline_fields(type(e)):  # type: ignore[arg-type]
            value = getattr(e, name)
            data[name] = value.as_dict() if isinstance(value, Usage) else value
        return (
            e.run_id,
            getattr(e, "step_id", None),
            type(e).__name__,
            e.ts,
            self.redact.json(data),
        )

    def _event(self, b: Batch, e: Event, owner: str) -> None:
        r = self.redact
        if isinstance(e, RunStarted):
            self._run_started(b, e, owner)
            return
        if isinstance(e, RunCompleted | RunFailed | RunCancelled):
            self._run_ended(b, e)
            b.state.forget_run(e.run_id)
            return
        if not isinstance(e, StepEvent):
            return
        run = b.state.run(b.conn, e.run_id)
        if isinstance(e, StepPending):
            self._upsert_step(
                b,
                run,
                sql.STEP_PENDING,
                {
                    "run": e.run_id,
                    "step": e.step_id,
                    "agent": e.agent,
                    "deps": json.dumps(e.depends_on),
                },
            )
        elif isinstance(e, StepStarted):
            self._step_started(b, run, e)
        elif isinstance(e, UsageReported):
            self._usage(b, run, e)
        elif isinstance(e, StepAwaitingApproval):
            self._final_text(b, run, e, e.output)
            self._set_step(b, run, e, StepStatus.AWAITING_APPROVAL, output=r(e.output))
        elif isinstance(e, StepCompleted):
            self._final_text(b, run, e, e.output)
            self._set_step(
                b,
                run,
                e,
                StepStatus.COMPLETED,
                fill=e.usage,
                output=r(e.output),
                outputs=r.json(e.outputs),
                attempts=e.attempts,
                ended_at=e.ts,
                error=None,
            )
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, StepFailed):
            self._final_text(b, run, e, e.partial)
            self._set_step(
                b, run, e, StepStatus.FAILED, error=r(e.error), attempts=e.attempts, ended_at=e.ts
            )
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, StepSkipped):
            self._set_step(b, run, e, StepStatus.SKIPPED, reason=r(e.reason), ended_at=e.ts)
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, StepCancelled):
            self._final_text(b, run, e, e.partial)
            self._set_step(b, run, e, StepStatus.CANCELLED, ended_at=e.ts)
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, _TOOL_EVENTS):
            self._tool(b, run, e)

    # ------------------------------------------------------------------ tools

    def _tool(
        self,
        b: Batch,
        run: WriterRunState,
        e: ToolCallStarted | ToolDecisionNeeded | ToolDecided | ToolCallFinished,
    ) -> None:
        """A tool call's row: inserted at its start, then updated by what is decided and how it
        ended. Arguments and result are redacted like messages; the result is capped."""
        self._ensure_step(b, run, e.run_id, e.step_id, StepStatus.RUNNING)
        key: dict[str, Any] = {"run": e.run_id, "step": e.step_id, "call": e.call_id}
        if isinstance(e, ToolCallStarted):
            self._insert_tool_call(b, run, e, "running", e.arguments, e.summary, e.round)
            return
        if isinstance(e, ToolDecisionNeeded):
            update, params = sql.TOOL_WAITING, {**key, "status": "waiting"}
        elif isinstance(e, ToolDecided):
            update = sql.TOOL_DECIDED
            params = {**key, "decision": e.decision, "rule": self.redact(e.rule)}
        else:
            result = self.redact(e.result) or ""
            truncated = e.truncated or len(result) > TOOL_RESULT_CAP
            params = {
                **key,
                "status": e.status,
                "result": result[:TOOL_RESULT_CAP],
                "truncated": int(truncated),
                "duration": e.duration,
            }
            update = sql.TOOL_FINISHED
        if not b.conn.execute(update, params).rowcount:
            # Its start was not recorded (written before this Paracle, or lost): a row anyway.
            self._insert_tool_call(b, run, e, "running", {}, "", 1)
            b.conn.execute(update, params)

    def _insert_tool_call(
        self,
        b: Batch,
        run: WriterRunState,
        e: ToolCallStarted | ToolDecisionNeeded | ToolDecided | ToolCallFinished,
        status: str,
        arguments: dict[str, Any],
        summary: str,
        round_: int,
    ) -> None:
        b.conn.execute(
            sql.INSERT_TOOL_CALL,
            {
                "run": e.run_id,
                "step": e.step_id,
                "attempt": run.attempts.get(e.step_id, 1),
                "call": e.call_id,
                "round": round_,
                "name": e.name,
                "arguments": self.redact.json(arguments),
                "summary": self.redact(summary) or "",
                "status": status,
                "ts": e.ts,
            },
        )

    def _step_started(self, b: Batch, run: WriterRunState, e: StepStarted) -> None:
        self._upsert_step(
            b,
            run,
            sql.STEP_STARTED,
            {
                "run": e.run_id,
                "step": e.step_id,
                "agent": e.agent,
                "provider": e.provider,
                "model": e.model,
                "attempt": e.attempt,
                "ts": e.ts,
            },
        )
        state = b.state
        state.drop(run.messages, e.step_id)
        state.drop(run.answered, e.step_id)
        state.put(run.attempts, e.step_id, e.attempt)
        for role, text in (("system", e.system_prompt), ("user", e.prompt)):
            if text:
                b.new_message(e.run_id, e.step_id, e.attempt, role, self.redact(text) or "", e.ts)
        if e.prompt:
            # This attempt's prompt is the step's last user message, with no answer yet.
            state.put(run.answered, e.step_id, False)

    def _usage(self, b: Batch, run: WriterRunState, e: UsageReported) -> None:
        u = e.usage
        b.usage.append(
            (
                e.run_id,
                e.step_id,
                e.provider or None,
                e.model or None,
                u.input_tokens,
                u.output_tokens,
                e.ts,
            )
        )
        self._ensure_step(b, run, e.run_id, e.step_id, StepStatus.RUNNING)
        b.add_step_tokens(e.run_id, e.step_id, u)

    def _run_started(self, b: Batch, e: RunStarted, owner: str) -> None:
        r = self.redact
        b.conn.execute(
            sql.RUN_STARTED,
            {
                "id": e.run_id,
                "kind": e.kind,
                "target": e.target,
                "task": r(e.task),
                "inputs": r.json(e.inputs),
                "provider": e.provider,
                "model": e.model,
                "source": e.source,
                "step_ids": json.dumps(e.step_ids),
                "edges": json.dumps(e.edges),
                "ts": e.ts,
                "owner": owner,
                "resumed": int(e.resumed),
            },
        )

    def _run_ended(self, b: Batch, e: RunCompleted | RunFailed | RunCancelled) -> None:
        b.add_run_tokens(e.run_id)
        params: dict[str, Any] = {"run": e.run_id, "ts": e.ts}
        if isinstance(e, RunCompleted):
            status, extra = (
                RunStatus.COMPLETED,
                ", output = :output, outputs = :outputs, error = NULL",
            )
            params.update(output=self.redact(e.output), outputs=self.redact.json(e.outputs))
        elif isinstance(e, RunFailed):
            status, extra = RunStatus.FAILED, ", error = :error"
            params["error"] = self.redact(e.error)
        else:
            status, extra = RunStatus.CANCELLED, ""
        params["status"] = status
        if e.usage.total:
            extra += sql.FILL_TOKENS
            params.update(fill_i=e.usage.input_tokens, fill_o=e.usage.output_tokens)
        b.conn.execute(
            f"UPDATE runs SET status = :status, ended_at = :ts{extra} WHERE id = :run", params
        )
