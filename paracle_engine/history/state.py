"""What the history writer remembers between batches, kept in step with what is committed.

Each run's steps (with their `seq`) are read from the file once, the first time a batch mentions
the run (a resumed run already has rows), and then kept in memory, so no step insert has to
count or look up rows. A batch records every change it makes to this state in an undo log;
the writer commits the log with the transaction, or rolls it back with it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()


@dataclass(slots=True)
class WriterRunState:
    """One run as the writer knows it. Step dicts are keyed by step id."""

    # Every step row of the run and its seq (the order steps were first recorded in).
    seqs: dict[str, int]
    # The assistant message that a step's streamed text is appended to.
    messages: dict[str, int] = field(default_factory=dict)
    # The attempt a step is on, from its StepStarted.
    attempts: dict[str, int] = field(default_factory=dict)
    # Steps whose last user message this writer inserted: True once an assistant message follows it.
    answered: dict[str, bool] = field(default_factory=dict)


class WriterState:
    """Per-run state with an undo log: `begin()`, then `commit()` or `rollback()`."""

    __slots__ = ("_runs", "_undo")

    def __init__(self) -> None:
        self._runs: dict[str, WriterRunState] = {}
        self._undo: list[tuple[dict[Any, Any], Any, Any]] | None = None

    # ------------------------------------------------------------------ transactions

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since `begin()`, newest first."""
        undo, self._undo = self._undo, None
        for mapping, key, old in reversed(undo or ()):
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old

    def put(self, mapping: dict[Any, Any], key: Any, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((mapping, key, mapping.get(key, _MISSING)))
        mapping[key] = value

    def drop(self, mapping: dict[Any, Any], key: Any) -> None:
        if key in mapping:
            if self._undo is not None:
                self._undo.append((mapping, key, mapping[key]))
            del mapping[key]

    # ------------------------------------------------------------------ runs and steps

    def run(self, conn: sqlite3.Connection, run_id: str) -> WriterRunState:
        """The run's state, read from the file the first time (one query per run)."""
        state = self._runs.get(run_id)
        if state is None:
            rows = conn.execute("SELECT step_id, seq FROM steps WHERE run_id = ?", (run_id,))
            state = WriterRunState({row[0]: row[1] for row in rows})
            self.put(self._runs, run_id, state)
        return state

    def add_step(self, run: WriterRunState, step_id: str) -> int:
        """Remember a new step row; returns its seq (as many as the run's earlier steps)."""
        seq = len(run.seqs)
        self.put(run.seqs, step_id, seq)
        return seq

    def forget_step(self, run: WriterRunState, step_id: str) -> None:
        """A step ended: nothing more is appended to its text."""
        self.drop(run.messages, step_id)
        self.drop(run.attempts, step_id)
        self.drop(run.answered, step_id)

    def forget_run(self, run_id: str) -> None:
        """A run ended; if it is resumed later, its steps are read from the file again."""
        self.drop(self._runs, run_id)

    def __len__(self) -> int:
        return len(self._runs)
