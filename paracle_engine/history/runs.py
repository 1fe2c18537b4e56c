"""RunRepository: how the fronts read (and delete) recorded runs."""

from __future__ import annotations

import json
import time
from typing import Any

from paracle_engine.errors import BadInputError
from paracle_engine.history.owner import owner_alive
from paracle_engine.history.records import (
    EventRecord,
    MessageRecord,
    ResumeState,
    RunDetail,
    RunSummary,
    SearchHit,
    StepRecord,
    ToolCallRecord,
    UsageRecord,
    parse_json,
)
from paracle_engine.history.store import HistoryStore
from paracle_engine.models import RunStatus, StepStatus, Usage

_SUMMARY_COLUMNS = (
    "id, kind, target, status, substr(task, 1, 500) AS task, provider, model, started_at, "
    "ended_at, input_tokens, output_tokens, error, resume_count"
)
_LIST_HINT = "`paracle history list` shows the run ids"
# Steps whose work was cut short when their process died.
_UNFINISHED_STEPS = (StepStatus.RUNNING.value, StepStatus.AWAITING_APPROVAL.value)


def fts_query(text: str) -> str:
    """Turn what a person typed into a safe FTS5 query: every word a quoted phrase, all required.

    `foo-bar` or a stray `"` can never be read as FTS5 syntax; a trailing `*` keeps its prefix
    meaning (`deploy*`). Returns "" when nothing searchable is left.
    """
    terms: list[str] = []
    for word in text.split():
        prefix = len(word) > 1 and word.endswith("*")
        word = word.rstrip("*")
        if not any(ch.isalnum() for ch in word):
            continue
        terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms)


def _rerun_notes(detail: RunDetail) -> dict[str, str]:
    """A note for each step a stopped process cut short: a resumed run re-runs it from its
    start (its prompt, then every tool call again), never from the middle of its tool loop."""
    notes: dict[str, str] = {}
    for step in detail.steps:
        if step.status not in (StepStatus.INTERRUPTED.value, *_UNFINISHED_STEPS):
            continue
        attempt = max((c.attempt for c in step.tool_calls), default=0)
        cut = any(
            c.attempt == attempt and c.status in ("interrupted", "running", "waiting")
            for c in step.tool_calls
        )
        why = "it was interrupted during a tool call" if cut else "it was interrupted"
        notes[step.step_id] = f"step {step.step_id} re-runs from its start ({why})"
    return notes


class RunRepository:
    """Reads runs from a HistoryStore. Run ids may be given as unique prefixes."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ ids

    async def resolve_id(self, run_id: str) -> str:
        """The full id of the one run whose id is or starts with `run_id`; BadInputError otherwise."""
        prefix = run_id.strip()
        if not prefix:
            raise BadInputError("no run id given", hint=_LIST_HINT)
        if await self.store.fetchone("SELECT 1 FROM runs WHERE id = ?", (prefix,)):
            return prefix
        rows = await self.store.fetchall(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 3",
            (prefix, prefix + "\U0010ffff"),
        )
        if not rows:
            raise BadInputError(f"no run with id {prefix!r}", hint=_LIST_HINT)
        if len(rows) > 1:
            shown = ", ".join(r["id"] for r in rows[:2]) + (", ..." if len(rows) > 2 else "")
            raise BadInputError(
                f"run id {prefix!r} is ambiguous ({shown})", hint="type more of the id"
            )
        return str(rows[0]["id"])

    # ------------------------------------------------------------------ reading

    async def list_runs(
        self, limit: int = 50, offset: int = 0, status: str | RunStatus | None = None
    ) -> list[RunSummary]:
        """Runs, newest first, one page of `limit` after `offset`, optionally of one status."""
        if status is not None:
            status = RunStatus(status).value
            rows = await self.store.fetchall(
                f"SELECT {_SUMMARY_COLUMNS} FROM runs WHERE status = ? "
                "ORDER BY started_at DESC LIMIT ? OFFSET ?",
                (status, limit, offset),
            )
        else:
            rows = await self.store.fetchall(
                f"SELECT {_SUMMARY_COLUMNS} FROM runs ORDER BY started_at DESC LIMIT ? OFFSET ?",
                (limit, offset),
            )
        return [RunSummary.from_row(r) for r in rows]

    async def count_runs(self, status: str | RunStatus | None = None) -> int:
        if status is None:
            row = await self.store.fetchone("SELECT count(*) FROM runs")
        else:
            row = await self.store.fetchone(
                "SELECT count(*) FROM runs WHERE status = ?", (RunStatus(status).value,)
            )
        return int(row[0]) if row else 0

    async def get_run(self, run_id: str) -> RunDetail:
        """The run with its steps (each with its messages), per-call usage and events."""
        run_id = await self.resolve_id(run_id)
        async with self.store.snapshot() as db:
            run = list(await db.execute_fetchall("SELECT * FROM runs WHERE id = ?", (run_id,)))
            if not run:
                raise BadInputError(f"no run with id {run_id!r}", hint=_LIST_HINT)
            steps = await db.execute_fetchall(
                "SELECT * FROM steps WHERE run_id = ? ORDER BY seq, started_at", (run_id,)
            )
            messages = await db.execute_fetchall(
                "SELECT * FROM messages WHERE run_id = ? ORDER BY id", (run_id,)
            )
            usage = await db.execute_fetchall(
                "SELECT * FROM usage WHERE run_id = ? ORDER BY id", (run_id,)
            )
            events = await db.execute_fetchall(
                "SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,)
            )
            tool_calls = await db.execute_fetchall(
                "SELECT * FROM tool_calls WHERE run_id = ? ORDER BY id", (run_id,)
            )
        row = run[0]
        step_records = [StepRecord.from_row(s) for s in steps]
        by_id = {s.step_id: s for s in step_records}
        for m in messages:
            step = by_id.get(m["step_id"])
            if step is None:  # text of a step never announced: keep it visible all the same
                step = by_id[m["step_id"]] = StepRecord.unknown(m["step_id"])
                step_records.append(step)
            step.messages.append(
                MessageRecord(
                    m["id"], m["step_id"], m["attempt"], m["role"], m["content"], m["created_at"]
                )
            )
        for t in tool_calls:
            step = by_id.get(t["step_id"])
            if step is None:
                step = by_id[t["step_id"]] = StepRecord.unknown(t["step_id"])
                step_records.append(step)
            step.tool_calls.append(ToolCallRecord.from_row(t))
        return RunDetail(
            run=RunSummary.from_row(row),
            inputs=parse_json(row["inputs"], {}),
            source=row["source"],
            step_ids=parse_json(row["step_ids"], []),
            edges=parse_json(row["edges"], {}),
            output=row["output"],
            outputs=parse_json(row["outputs"], {}),
            steps=step_records,
            usage_calls=[
                UsageRecord(
                    u["step_id"],
                    u["provider"],
                    u["model"],
                    Usage(u["input_tokens"], u["output_tokens"]),
                    u["ts"],
                )
                for u in usage
            ],
            events=[
                EventRecord(e["step_id"], e["type"], e["ts"], parse_json(e["data"], {}))
                for e in events
            ],
        )

    async def search(self, query: str, limit: int = 20) -> list[SearchHit]:
        """Runs whose messages or tool calls (name, arguments, result) match `query` (every
        word), best match first, one hit per run."""
        match = fts_query(query)
        if not match:
            return []
        async with self.store.snapshot() as db:
            messages = await self._message_hits(db, match, limit)
            tools = await self._tool_hits(db, match, limit)
        best: dict[str, SearchHit] = {}
        for hit in (*messages, *tools):
            seen = best.get(hit.run_id)
            if seen is None or hit.rank < seen.rank:
                best[hit.run_id] = hit
        return sorted(best.values(), key=lambda h: h.rank)[:limit]

    @staticmethod
    async def _message_hits(db: Any, match: str, limit: int) -> list[SearchHit]:
        best = list(
            await db.execute_fetchall(
                """
                WITH hits AS (
                    SELECT rowid AS mid, bm25(messages_fts) AS rank
                    FROM messages_fts WHERE messages_fts MATCH :q
                ), ranked AS (
                    SELECT m.id AS mid, m.run_id, m.step_id, m.role, h.rank,
                           row_number() OVER (PARTITION BY m.run_id ORDER BY h.rank) AS n
                    FROM hits h JOIN messages m ON m.id = h.mid
                )
                SELECT k.mid, k.run_id, k.step_id, k.role, k.rank,
                       r.kind, r.target, r.status, r.started_at
                FROM ranked k JOIN runs r ON r.id = k.run_id
                WHERE k.n = 1 ORDER BY k.rank LIMIT :limit
                """,
                {"q": match, "limit": limit},
            )
        )
        if not best:
            return []
        ids = [row["mid"] for row in best]
        marks = ",".join("?" * len(ids))
        snippets = {
            row[0]: row[1]
            for row in await db.execute_fetchall(
                "SELECT rowid, snippet(messages_fts, 0, '«', '»', '…', 16) FROM messages_fts "
                f"WHERE messages_fts MATCH ? AND rowid IN ({marks})",
                (match, *ids),
            )
        }
        return [
            SearchHit(
                run_id=row["run_id"],
                step_id=row["step_id"],
                role=row["role"],
                snippet=" ".join(str(snippets.get(row["mid"], "")).split()),
                kind=row["kind"],
                target=row["target"],
                status=row["status"],
                started_at=row["started_at"],
                rank=row["rank"],
            )
            for row in best
        ]

    @staticmethod
    async def _tool_hits(db: Any, match: str, limit: int) -> list[SearchHit]:
        """The best matching tool call of each run; a match in its result says so."""
        best = list(
            await db.execute_fetchall(
                """
                WITH hits AS (
                    SELECT rowid AS tid, bm25(tool_calls_fts) AS rank
                    FROM tool_calls_fts WHERE tool_calls_fts MATCH :q
                ), ranked AS (
                    SELECT t.id AS tid, t.run_id, t.step_id, t.name, h.rank,
                           row_number() OVER (PARTITION BY t.run_id ORDER BY h.rank) AS n
                    FROM hits h JOIN tool_calls t ON t.id = h.tid
                )
                SELECT k.tid, k.run_id, k.step_id, k.name, k.rank,
                       r.kind, r.target, r.status, r.started_at
                FROM ranked k JOIN runs r ON r.id = k.run_id
                WHERE k.n = 1 ORDER BY k.rank LIMIT :limit
                """,
                {"q": match, "limit": limit},
            )
        )
        if not best:
            return []
        ids = [row["tid"] for row in best]
        marks = ",".join("?" * len(ids))
        # Column 2 is the result: its snippet has a mark only when the match is in it.
        snippets = {
            row[0]: (row[1], row[2])
            for row in await db.execute_fetchall(
                "SELECT rowid, snippet(tool_calls_fts, 2, '«', '»', '…', 16),"
                " snippet(tool_calls_fts, -1, '«', '»', '…', 16) FROM tool_calls_fts "
                f"WHERE tool_calls_fts MATCH ? AND rowid IN ({marks})",
                (match, *ids),
            )
        }
        hits = []
        for row in best:
            in_result, anywhere = snippets.get(row["tid"], ("", ""))
            in_result = str(in_result or "")
            found = "«" in in_result
            hits.append(
                SearchHit(
                    run_id=row["run_id"],
                    step_id=row["step_id"],
                    role="tool result" if found else "tool call",
                    snippet=" ".join((in_result if found else str(anywhere or "")).split()),
                    kind=row["kind"],
                    target=row["target"],
                    status=row["status"],
                    started_at=row["started_at"],
                    rank=row["rank"],
                    tool=row["name"],
                )
            )
        return hits

    async def load_resume_state(self, run_id: str) -> ResumeState:
        """What resuming a workflow run needs. Refuses agent runs and runs not stopped early."""
        detail = await self.get_run(run_id)
        run = detail.run
        if run.kind != "workflow":
            raise BadInputError(
                f"run {run.id} is an agent run; only workflow runs can be resumed",
                hint="run the agent again with `paracle run`",
            )
        if run.status == RunStatus.COMPLETED:
            raise BadInputError(f"run {run.id} already completed; there is nothing to resume")
        if run.status == RunStatus.RUNNING:
            raise BadInputError(
                f"run {run.id} is still running in another Paracle process",
                hint="wait for it to end or cancel it there",
            )
        steps = {s.step_id: s.to_result() for s in detail.steps}
        return ResumeState(
            notes=_rerun_notes(detail),
            run_id=run.id,
            kind=run.kind,
            workflow=run.target,
            source=detail.source,
            inputs=dict(detail.inputs),
            status=run.status,
            step_ids=list(detail.step_ids),
            steps=steps,
            completed={k: v for k, v in steps.items() if v.status == StepStatus.COMPLETED},
        )

    # ------------------------------------------------------------------ changes

    async def delete(self, run_id: str) -> str:
        """Delete a run and everything recorded for it; returns its full id."""
        run_id = await self.resolve_id(run_id)
        async with self.store.transaction() as db:
            await db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return run_id

    async def export(self, run_id: str, fmt: str = "md") -> str:
        """The run as Markdown ("md") or JSON ("json")."""
        from paracle_engine.history.export import to_json, to_markdown

        if fmt not in ("md", "json"):
            raise BadInputError(f"unknown export format {fmt!r}", hint="use md or json")
        detail = await self.get_run(run_id)
        return to_markdown(detail) if fmt == "md" else to_json(detail)

    async def mark_interrupted(self) -> list[str]:
        """Mark runs left `running` by a process that is gone as `interrupted`, with the steps
        they were running. Runs of live processes (this one included) are left alone."""
        rows = await self.store.fetchall("SELECT id, owner FROM runs WHERE status = 'running'")
        dead = [r["id"] for r in rows if not owner_alive(r["owner"])]
        if not dead:
            return []
        now = time.time()
        step_marks = ",".join("?" * len(_UNFINISHED_STEPS))
        async with self.store.transaction() as db:
            for run_id in dead:
                await db.execute(
                    "UPDATE runs SET status = 'interrupted', ended_at = coalesce("
                    " (SELECT max(ts) FROM events WHERE run_id = :id),"
                    " (SELECT max(created_at) FROM messages WHERE run_id = :id), started_at)"
                    " WHERE id = :id AND status = 'running'",
                    {"id": run_id},
                )
                await db.execute(
                    f"UPDATE steps SET status = 'interrupted' WHERE run_id = ? AND status IN ({step_marks})",
                    (run_id, *_UNFINISHED_STEPS),
                )
                await db.execute(
                    "UPDATE tool_calls SET status = 'interrupted'"
                    " WHERE run_id = ? AND status IN ('running', 'waiting')",
                    (run_id,),
                )
                await db.execute(
                    "INSERT INTO events(run_id, step_id, type, ts, data) VALUES (?, NULL, 'RunInterrupted', ?, ?)",
                    (run_id, now, json.dumps({"reason": "the process recording it stopped"})),
                )
        return dead
