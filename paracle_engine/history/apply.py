"""Turning one batch of engine events into rows, inside the writer's transaction.

This runs on the writer connection's own thread (see `HistoryStore.write`), so a whole batch is
one trip off the event loop. Sequence numbers, open messages and attempts come from
`WriterState`, never from a query per event. Rows nothing in the batch reads back (events,
per-call usage, token sums, new messages) are gathered and written together: new messages in
multi-row inserts, because SQLite opens a savepoint per statement and FTS5 writes its pending
index at every savepoint, so one statement per message would flush the index once per message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Iterable
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
    UsageReported,
)
from paracle_engine.history.owner import process_owner
from paracle_engine.history.state import RunState, WriterState
from paracle_engine.models import Usage

if TYPE_CHECKING:
    from paracle_engine.history.writer import TextPiece

REDACTED = "[redacted]"
# Fields kept out of the events table: text already stored in messages, steps or runs.
_BULKY = {"run_id", "step_id", "ts", "system_prompt", "prompt", "output", "partial", "text"}


def _env_secrets() -> list[str]:
    from paracle_engine.providers.catalog import PROVIDERS

    names = {p.key_env for p in PROVIDERS.values() if p.key_env}
    return [os.environ[n] for n in names if os.environ.get(n)]


@cache
def _timeline_fields(kind: type[Event]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.name not in _BULKY)


class Redactor:
    """Replaces known secret values (API keys) in text before it is stored.

    A safety net: the engine never puts a key in an event, but an error message that quotes a
    request, or a prompt a person pasted a key into, must not carry it to disk.
    """

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        values = _env_secrets() if secrets is None else secrets
        # Longest first, so a key that contains another is replaced whole; short values are not keys.
        self._secrets = sorted({s for s in values if s and len(s) >= 8}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Also redact `secret` from now on (a key fetched from the keyring, say)."""
        if secret and len(secret) >= 8 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text or not self._secrets:
            return text
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def json(self, value: Any) -> str:
        return self(_to_json(value)) or "null"


_to_json = json.JSONEncoder(default=str, ensure_ascii=False).encode


# --------------------------------------------------------------------------- statements

_INSERT_RUN = (
    "INSERT OR IGNORE INTO runs(id, kind, status, started_at, owner) "
    "VALUES (?, 'unknown', 'running', ?, ?)"
)
_INSERT_EVENT = "INSERT INTO events(run_id, step_id, type, ts, data) VALUES (?, ?, ?, ?, ?)"
_INSERT_USAGE = (
    "INSERT INTO usage(run_id, step_id, provider, model, input_tokens, output_tokens, ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_ADD_RUN_TOKENS = "UPDATE runs SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ? WHERE id = ?"
_ADD_STEP_TOKENS = (
    "UPDATE steps SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?"
    " WHERE run_id = ? AND step_id = ?"
)
_INSERT_MESSAGES = (
    "INSERT INTO messages(id, run_id, step_id, attempt, role, content, created_at) VALUES "
)
_MESSAGE_VALUES = "(?, ?, ?, ?, ?, ?, ?)"
_APPEND_MESSAGE = "UPDATE messages SET content = content || ? WHERE id = ?"
# A final answer, unless an assistant message already follows the step's last prompt (a step
# re-announced on resume). Only for steps this writer did not see start.
_INSERT_ANSWER_GUARDED = (
    "INSERT INTO messages(run_id, step_id, attempt, role, content, created_at) "
    "SELECT :run, :step, :attempt, 'assistant', :text, :ts WHERE NOT EXISTS ("
    " SELECT 1 FROM messages WHERE run_id = :run AND step_id = :step AND role = 'assistant'"
    " AND id > coalesce((SELECT max(id) FROM messages WHERE run_id = :run"
    " AND step_id = :step AND role = 'user'), 0))"
)
_ENSURE_STEP = "INSERT OR IGNORE INTO steps(run_id, step_id, seq, status) VALUES (?, ?, ?, ?)"
# A completed step carried into a resumed run keeps its result.
_STEP_PENDING = (
    "INSERT INTO steps(run_id, step_id, seq, agent, status, depends_on) "
    "VALUES (:run, :step, :seq, :agent, 'pending', :deps) "
    "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
    " depends_on = excluded.depends_on,"
    " status = CASE WHEN status = 'completed' THEN status ELSE 'pending' END"
)
_STEP_STARTED = (
    "INSERT INTO steps(run_id, step_id, seq, agent, provider, model, status, attempts, started_at) "
    "VALUES (:run, :step, :seq, :agent, :provider, :model, 'running', :attempt, :ts) "
    "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
    " provider = excluded.provider, model = excluded.model, status = 'running',"
    " attempts = excluded.attempts, started_at = excluded.started_at, ended_at = NULL,"
    " error = NULL"
)
# A resumed run updates its own row: same id, first start time kept, counted as resumed.
_RUN_STARTED = (
    "INSERT INTO runs(id, kind, target, status, task, inputs, provider, model, source,"
    " step_ids, edges, started_at, owner) VALUES (:id, :kind, :target, 'running', :task,"
    " :inputs, :provider, :model, :source, :step_ids, :edges, :ts, :owner) "
    "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, target = excluded.target,"
    " status = 'running', task = coalesce(excluded.task, task), inputs = excluded.inputs,"
    " provider = coalesce(excluded.provider, provider), model = coalesce(excluded.model, model),"
    " source = coalesce(excluded.source, source), step_ids = excluded.step_ids,"
    " edges = excluded.edges, owner = excluded.owner, error = NULL, ended_at = NULL,"
    " started_at = CASE WHEN :resumed THEN started_at ELSE excluded.started_at END,"
    " resumed_at = CASE WHEN :resumed THEN excluded.started_at ELSE resumed_at END,"
    " resume_count = resume_count + :resumed"
)
_ADD_TOKENS = ", input_tokens = input_tokens + :add_i, output_tokens = output_tokens + :add_o"
# A final event's token total counts only when no per-call usage was counted (SQLite reads the
# old row on the right of every SET, so both columns test the same sum).
_FILL_TOKENS = (
    ", input_tokens = CASE WHEN input_tokens + output_tokens = 0 THEN :fill_i"
    " ELSE input_tokens END, output_tokens = CASE WHEN input_tokens + output_tokens = 0"
    " THEN :fill_o ELSE output_tokens END"
)


class _Batch:
    """One batch being applied: the connection, the state, and the rows gathered for the end."""

    __slots__ = (
        "conn",
        "state",
        "now",
        "events",
        "usage",
        "run_tokens",
        "step_tokens",
        "messages",
        "next_message_id",
    )

    def __init__(self, conn: sqlite3.Connection, state: WriterState, now: float) -> None:
        self.conn = conn
        self.state = state
        self.now = now
        self.events: list[tuple[Any, ...]] = []
        self.usage: list[tuple[Any, ...]] = []
        self.run_tokens: dict[str, list[int]] = {}
        self.step_tokens: dict[tuple[str, str], list[int]] = {}
        # New messages by id, not yet inserted: [id, run, step, attempt, role, content, ts].
        self.messages: dict[int, list[Any]] = {}
        self.next_message_id = 0

    # ------------------------------------------------------------------ messages

    def new_message(
        self, run_id: str, step_id: str, attempt: int, role: str, content: str, ts: float
    ) -> int:
        """A message row to insert with the others; its id is taken now (the write lock is held)."""
        if not self.next_message_id:
            row = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()
            self.next_message_id = int(row[0])
        message_id = self.next_message_id
        self.next_message_id += 1
        self.messages[message_id] = [message_id, run_id, step_id, attempt, role, content, ts]
        return message_id

    def append_message(self, message_id: int, text: str) -> None:
        row = self.messages.get(message_id)
        if row is not None:
            row[5] += text
        else:
            self.conn.execute(_APPEND_MESSAGE, (text, message_id))

    def write_messages(self) -> None:
        """Insert the gathered messages, a few hundred rows a statement, in id order."""
        if not self.messages:
            return
        rows = list(self.messages.values())
        self.messages.clear()
        per = max(1, min(500, self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 7))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            self.conn.execute(
                _INSERT_MESSAGES + ", ".join([_MESSAGE_VALUES] * len(chunk)),
                [value for row in chunk for value in row],
            )

    # ------------------------------------------------------------------ tokens

    def add_step_tokens(self, run_id: str, step_id: str, usage: Usage) -> None:
        tokens = self.step_tokens.setdefault((run_id, step_id), [0, 0])
        tokens[0] += usage.input_tokens
        tokens[1] += usage.output_tokens
        tokens = self.run_tokens.setdefault(run_id, [0, 0])
        tokens[0] += usage.input_tokens
        tokens[1] += usage.output_tokens

    def add_run_tokens(self, run_id: str) -> None:
        """Write the tokens gathered for a run, before anything reads its totals."""
        tokens = self.run_tokens.pop(run_id, None)
        if tokens is not None:
            self.conn.execute(_ADD_RUN_TOKENS, (tokens[0], tokens[1], run_id))

    def finish(self) -> None:
        self.write_messages()
        if self.step_tokens:
            self.conn.executemany(
                _ADD_STEP_TOKENS,
                [(i, o, run_id, step_id) for (run_id, step_id), (i, o) in self.step_tokens.items()],
            )
        for run_id in list(self.run_tokens):
            self.add_run_tokens(run_id)
        if self.usage:
            self.conn.executemany(_INSERT_USAGE, self.usage)
        if self.events:
            self.conn.executemany(_INSERT_EVENT, self.events)


class BatchApplier:
    """Writes a batch of events and text pieces with the statements each one needs."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    def apply(
        self, conn: sqlite3.Connection, batch: list[Event | TextPiece], state: WriterState
    ) -> None:
        """Write `batch` on `conn`, inside the caller's transaction, updating `state`."""
        b = _Batch(conn, state, time.time())
        owner = process_owner()
        # A run row for every run mentioned, so events of a run whose start was missed still land.
        runs = {item.run_id: getattr(item, "ts", b.now) for item in reversed(batch)}
        conn.executemany(_INSERT_RUN, [(run_id, ts, owner) for run_id, ts in runs.items()])
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
    def _ensure_step(b: _Batch, run: RunState, run_id: str, step_id: str, status: str) -> None:
        if step_id not in run.seqs:
            seq = b.state.add_step(run, step_id)
            b.conn.execute(_ENSURE_STEP, (run_id, step_id, seq, status))

    @staticmethod
    def _upsert_step(b: _Batch, run: RunState, sql: str, params: dict[str, Any]) -> None:
        """An insert-or-update of a step row, with the seq it gets if it is new."""
        step_id = params["step"]
        seq = run.seqs.get(step_id)
        if seq is None:
            seq = b.state.add_step(run, step_id)
        b.conn.execute(sql, {**params, "seq": seq})

    def _set_step(
        self,
        b: _Batch,
        run: RunState,
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
            sets += _ADD_TOKENS
            params.update(add_i=added[0], add_o=added[1])
        elif fill is not None and fill.total:
            sets += _FILL_TOKENS
            params.update(fill_i=fill.input_tokens, fill_o=fill.output_tokens)
        sql = f"UPDATE steps SET status = :status{sets} WHERE run_id = :run AND step_id = :step"
        if e.step_id in run.seqs:
            if b.conn.execute(sql, params).rowcount:
                return
            b.state.drop(
                run.seqs, e.step_id
            )  # the row went away (its run was deleted): write it again
        self._ensure_step(b, run, e.run_id, e.step_id, status)
        b.conn.execute(sql, params)

    # ------------------------------------------------------------------ text

    def _text(self, b: _Batch, piece: TextPiece) -> None:
        text = self.redact("".join(piece.parts)) or ""
        run = b.state.run(b.conn, piece.run_id)
        step_id = piece.step_id
        message_id = run.messages.get(step_id)
        if message_id is not None:
            b.append_message(message_id, text)
            return
        self._ensure_step(b, run, piece.run_id, step_id, "running")
        message_id = b.new_message(
            piece.run_id, step_id, run.attempts.get(step_id, 1), "assistant", text, b.now
        )
        b.state.put(run.messages, step_id, message_id)
        if step_id in run.answered:
            b.state.put(run.answered, step_id, True)

    def _final_text(self, b: _Batch, run: RunState, e: StepEvent, text: str) -> None:
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
                _INSERT_ANSWER_GUARDED,
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

    def _event(self, b: _Batch, e: Event, owner: str) -> None:
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
                _STEP_PENDING,
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
            self._set_step(b, run, e, "awaiting_approval", output=r(e.output))
        elif isinstance(e, StepCompleted):
            self._final_text(b, run, e, e.output)
            self._set_step(
                b,
                run,
                e,
                "completed",
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
                b, run, e, "failed", error=r(e.error), attempts=e.attempts, ended_at=e.ts
            )
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, StepSkipped):
            self._set_step(b, run, e, "skipped", reason=r(e.reason), ended_at=e.ts)
            b.state.forget_step(run, e.step_id)
        elif isinstance(e, StepCancelled):
            self._final_text(b, run, e, e.partial)
            self._set_step(b, run, e, "cancelled", ended_at=e.ts)
            b.state.forget_step(run, e.step_id)

    def _step_started(self, b: _Batch, run: RunState, e: StepStarted) -> None:
        self._upsert_step(
            b,
            run,
            _STEP_STARTED,
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

    def _usage(self, b: _Batch, run: RunState, e: UsageReported) -> None:
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
        self._ensure_step(b, run, e.run_id, e.step_id, "running")
        b.add_step_tokens(e.run_id, e.step_id, u)

    def _run_started(self, b: _Batch, e: RunStarted, owner: str) -> None:
        r = self.redact
        b.conn.execute(
            _RUN_STARTED,
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

    def _run_ended(self, b: _Batch, e: RunCompleted | RunFailed | RunCancelled) -> None:
        b.add_run_tokens(e.run_id)
        params: dict[str, Any] = {"run": e.run_id, "ts": e.ts}
        if isinstance(e, RunCompleted):
            status, extra = "completed", ", output = :output, outputs = :outputs, error = NULL"
            params.update(output=self.redact(e.output), outputs=self.redact.json(e.outputs))
        elif isinstance(e, RunFailed):
            status, extra = "failed", ", error = :error"
            params["error"] = self.redact(e.error)
        else:
            status, extra = "cancelled", ""
        params["status"] = status
        if e.usage.total:
            extra += _FILL_TOKENS
            params.update(fill_i=e.usage.input_tokens, fill_o=e.usage.output_tokens)
        b.conn.execute(
            f"UPDATE runs SET status = :status, ended_at = :ts{extra} WHERE id = :run", params
        )
