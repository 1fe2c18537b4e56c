"""Turning one batch of engine events into rows, inside the writer's transaction."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import aiosqlite

from ..events import (
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
from ..models import Usage
from .owner import process_owner

if TYPE_CHECKING:
    from .writer import TextPiece

StepKey = tuple[str, str]
REDACTED = "[redacted]"
# Fields kept out of the events table: text already stored in messages, steps or runs.
_BULKY = {"run_id", "step_id", "ts", "system_prompt", "prompt", "output", "partial", "text"}


def _env_secrets() -> list[str]:
    from ..providers.catalog import PROVIDERS

    names = {p.key_env for p in PROVIDERS.values() if p.key_env}
    return [os.environ[n] for n in names if os.environ.get(n)]


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
        return self(json.dumps(value, default=str, ensure_ascii=False)) or "null"


@dataclasses.dataclass(slots=True)
class WriterState:
    """What the writer remembers between batches; copied per batch, kept only once committed."""

    # The assistant message that a step's text is appended to, per (run, step).
    messages: dict[StepKey, int] = dataclasses.field(default_factory=dict)
    attempts: dict[StepKey, int] = dataclasses.field(default_factory=dict)

    def copy(self) -> WriterState:
        return WriterState(dict(self.messages), dict(self.attempts))

    def forget_step(self, key: StepKey) -> None:
        self.messages.pop(key, None)
        self.attempts.pop(key, None)

    def forget_run(self, run_id: str) -> None:
        for key in [k for k in self.attempts if k[0] == run_id]:
            self.attempts.pop(key, None)
        for key in [k for k in self.messages if k[0] == run_id]:
            self.messages.pop(key, None)


_NEXT_SEQ = "(SELECT count(*) FROM steps WHERE run_id = :run)"


class BatchApplier:
    """Writes a batch of events and text pieces with the statements each one needs."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    async def apply(
        self, db: aiosqlite.Connection, batch: list[Event | TextPiece], state: WriterState
    ) -> None:
        now = time.time()
        owner = process_owner()
        # A run row for every run mentioned, so events of a run whose start was missed still land.
        runs = {item.run_id: getattr(item, "ts", now) for item in reversed(batch)}
        await db.executemany(
            "INSERT OR IGNORE INTO runs(id, kind, status, started_at, owner) "
            "VALUES (?, 'unknown', 'running', ?, ?)",
            [(run_id, ts, owner) for run_id, ts in runs.items()],
        )
        events: list[tuple[Any, ...]] = []
        for item in batch:
            if isinstance(item, Event):
                await self._event(db, item, state, owner)
                if not isinstance(item, UsageReported):
                    events.append(self._event_row(item))
            else:
                await self._text(db, item, state, now)
        if events:
            await db.executemany(
                "INSERT INTO events(run_id, step_id, type, ts, data) VALUES (?, ?, ?, ?, ?)", events
            )

    # ------------------------------------------------------------------ text

    async def _text(
        self, db: aiosqlite.Connection, piece: TextPiece, state: WriterState, now: float
    ) -> None:
        text = self.redact("".join(piece.parts)) or ""
        key = (piece.run_id, piece.step_id)
        message_id = state.messages.get(key)
        if message_id is not None:
            await db.execute(
                "UPDATE messages SET content = content || ? WHERE id = ?", (text, message_id)
            )
            return
        await self._ensure_step(db, piece.run_id, piece.step_id, "running")
        state.messages[key] = await self._insert_message(
            db, piece.run_id, piece.step_id, state.attempts.get(key, 1), "assistant", text, now
        )

    @staticmethod
    async def _insert_message(
        db: aiosqlite.Connection,
        run_id: str,
        step_id: str,
        attempt: int,
        role: str,
        content: str,
        ts: float,
    ) -> int:
        cursor = await db.execute(
            "INSERT INTO messages(run_id, step_id, attempt, role, content, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, step_id, attempt, role, content, ts),
        )
        rowid = cursor.lastrowid
        await cursor.close()
        return int(rowid or 0)

    async def _final_text(
        self, db: aiosqlite.Connection, e: StepEvent, text: str, state: WriterState
    ) -> None:
        """Store a step's answer as its assistant message when no text was streamed for it."""
        key = (e.run_id, e.step_id)
        if not text or key in state.messages:
            return
        # Not if an assistant message follows the step's last prompt (a step re-announced on resume).
        await db.execute(
            "INSERT INTO messages(run_id, step_id, attempt, role, content, created_at) "
            "SELECT :run, :step, :attempt, 'assistant', :text, :ts WHERE NOT EXISTS ("
            " SELECT 1 FROM messages WHERE run_id = :run AND step_id = :step AND role = 'assistant'"
            " AND id > coalesce((SELECT max(id) FROM messages WHERE run_id = :run"
            " AND step_id = :step AND role = 'user'), 0))",
            {
                "run": e.run_id,
                "step": e.step_id,
                "attempt": state.attempts.get(key, 1),
                "text": self.redact(text),
                "ts": e.ts,
            },
        )

    # ------------------------------------------------------------------ events

    def _event_row(self, e: Event) -> tuple[Any, ...]:
        data: dict[str, Any] = {}
        for f in dataclasses.fields(e):
            if f.name in _BULKY:
                continue
            value = getattr(e, f.name)
            data[f.name] = value.as_dict() if isinstance(value, Usage) else value
        return (
            e.run_id,
            getattr(e, "step_id", None),
            type(e).__name__,
            e.ts,
            self.redact.json(data),
        )

    async def _ensure_step(
        self, db: aiosqlite.Connection, run_id: str, step_id: str, status: str
    ) -> None:
        await db.execute(
            f"INSERT OR IGNORE INTO steps(run_id, step_id, seq, status) VALUES (:run, :step, {_NEXT_SEQ}, :status)",
            {"run": run_id, "step": step_id, "status": status},
        )

    async def _set_step(
        self, db: aiosqlite.Connection, e: StepEvent, status: str, **columns: Any
    ) -> None:
        await self._ensure_step(db, e.run_id, e.step_id, status)
        sets = ", ".join(f"{name} = :{name}" for name in columns)
        await db.execute(
            f"UPDATE steps SET status = :status{', ' if sets else ''}{sets} "
            "WHERE run_id = :run AND step_id = :step",
            {"status": status, "run": e.run_id, "step": e.step_id, **columns},
        )

    async def _event(
        self, db: aiosqlite.Connection, e: Event, state: WriterState, owner: str
    ) -> None:
        r = self.redact
        if isinstance(e, RunStarted):
            await self._run_started(db, e, owner)
        elif isinstance(e, StepPending):
            # A completed step carried into a resumed run keeps its result.
            await db.execute(
                "INSERT INTO steps(run_id, step_id, seq, agent, status, depends_on) "
                f"VALUES (:run, :step, {_NEXT_SEQ}, :agent, 'pending', :deps) "
                "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
                " depends_on = excluded.depends_on,"
                " status = CASE WHEN status = 'completed' THEN status ELSE 'pending' END",
                {
                    "run": e.run_id,
                    "step": e.step_id,
                    "agent": e.agent,
                    "deps": json.dumps(e.depends_on),
                },
            )
        elif isinstance(e, StepStarted):
            key = (e.run_id, e.step_id)
            await db.execute(
                "INSERT INTO steps(run_id, step_id, seq, agent, provider, model, status, attempts, started_at) "
                f"VALUES (:run, :step, {_NEXT_SEQ}, :agent, :provider, :model, 'running', :attempt, :ts) "
                "ON CONFLICT(run_id, step_id) DO UPDATE SET agent = coalesce(excluded.agent, agent),"
                " provider = excluded.provider, model = excluded.model, status = 'running',"
                " attempts = excluded.attempts, started_at = excluded.started_at, ended_at = NULL,"
                " error = NULL",
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
            state.messages.pop(key, None)
            state.attempts[key] = e.attempt
            for role, text in (("system", e.system_prompt), ("user", e.prompt)):
                if text:
                    await self._insert_message(
                        db, e.run_id, e.step_id, e.attempt, role, r(text) or "", e.ts
                    )
        elif isinstance(e, UsageReported):
            await self._usage(db, e)
        elif isinstance(e, StepAwaitingApproval):
            await self._final_text(db, e, e.output, state)
            await self._set_step(db, e, "awaiting_approval", output=r(e.output))
        elif isinstance(e, StepCompleted):
            await self._final_text(db, e, e.output, state)
            await self._set_step(
                db,
                e,
                "completed",
                output=r(e.output),
                outputs=r.json(e.outputs),
                attempts=e.attempts,
                ended_at=e.ts,
                error=None,
            )
            await self._fill_usage(db, "steps", e.usage, "run_id = :run AND step_id = :step", e)
            state.forget_step((e.run_id, e.step_id))
        elif isinstance(e, StepFailed):
            await self._final_text(db, e, e.partial, state)
            await self._set_step(
                db, e, "failed", error=r(e.error), attempts=e.attempts, ended_at=e.ts
            )
            state.forget_step((e.run_id, e.step_id))
        elif isinstance(e, StepSkipped):
            await self._set_step(db, e, "skipped", reason=r(e.reason), ended_at=e.ts)
            state.forget_step((e.run_id, e.step_id))
        elif isinstance(e, StepCancelled):
            await self._final_text(db, e, e.partial, state)
            await self._set_step(db, e, "cancelled", ended_at=e.ts)
            state.forget_step((e.run_id, e.step_id))
        elif isinstance(e, RunCompleted | RunFailed | RunCancelled):
            await self._run_ended(db, e)
            state.forget_run(e.run_id)

    async def _run_started(self, db: aiosqlite.Connection, e: RunStarted, owner: str) -> None:
        r = self.redact
        # A resumed run updates its own row: same id, first start time kept, counted as resumed.
        await db.execute(
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
            " resume_count = resume_count + :resumed",
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

    async def _run_ended(
        self, db: aiosqlite.Connection, e: RunCompleted | RunFailed | RunCancelled
    ) -> None:
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
        await db.execute(
            f"UPDATE runs SET status = :status, ended_at = :ts{extra} WHERE id = :run", params
        )
        await self._fill_usage(db, "runs", e.usage, "id = :run", e)

    async def _usage(self, db: aiosqlite.Connection, e: UsageReported) -> None:
        u = e.usage
        params = {"run": e.run_id, "step": e.step_id, "i": u.input_tokens, "o": u.output_tokens}
        await db.execute(
            "INSERT INTO usage(run_id, step_id, provider, model, input_tokens, output_tokens, ts)"
            " VALUES (:run, :step, :provider, :model, :i, :o, :ts)",
            {**params, "provider": e.provider or None, "model": e.model or None, "ts": e.ts},
        )
        await self._ensure_step(db, e.run_id, e.step_id, "running")
        await db.execute(
            "UPDATE steps SET input_tokens = input_tokens + :i, output_tokens = output_tokens + :o"
            " WHERE run_id = :run AND step_id = :step",
            params,
        )
        await db.execute(
            "UPDATE runs SET input_tokens = input_tokens + :i, output_tokens = output_tokens + :o"
            " WHERE id = :run",
            params,
        )

    @staticmethod
    async def _fill_usage(
        db: aiosqlite.Connection, table: str, usage: Usage, where: str, e: Event
    ) -> None:
        """Take a total from a final event only when no per-call usage was counted."""
        if not usage.total:
            return
        await db.execute(
            f"UPDATE {table} SET input_tokens = :i, output_tokens = :o"
            f" WHERE {where} AND input_tokens + output_tokens = 0",
            {
                "i": usage.input_tokens,
                "o": usage.output_tokens,
                "run": e.run_id,
                "step": getattr(e, "step_id", None),
            },
        )
