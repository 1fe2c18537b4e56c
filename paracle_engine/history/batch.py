"""One batch being written: the connection, the writer's state, and the rows gathered for the end.

Rows nothing in the batch reads back (events, per-call usage, token sums, new messages) wait
here and are written together by `finish()`: new messages in multi-row inserts, because SQLite
opens a savepoint per statement and FTS5 writes its pending index at every savepoint, so one
statement per message would flush the index once per message.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from paracle_engine.history import statements as sql
from paracle_engine.history.state import WriterState
from paracle_engine.models import Usage


class Batch:
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
            self.conn.execute(sql.APPEND_MESSAGE, (text, message_id))

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
                sql.INSERT_MESSAGES + ", ".join([sql.MESSAGE_VALUES] * len(chunk)),
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
            self.conn.execute(sql.ADD_RUN_TOKENS, (tokens[0], tokens[1], run_id))

    def finish(self) -> None:
        self.write_messages()
        if self.step_tokens:
            self.conn.executemany(
                sql.ADD_STEP_TOKENS,
                [(i, o, run_id, step_id) for (run_id, step_id), (i, o) in self.step_tokens.items()],
            )
        for run_id in list(self.run_tokens):
            self.add_run_tokens(run_id)
        if self.usage:
            self.conn.executemany(sql.INSERT_USAGE, self.usage)
        if self.events:
            self.conn.executemany(sql.INSERT_EVENT, self.events)
