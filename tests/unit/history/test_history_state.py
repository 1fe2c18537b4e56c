"""WriterState: seeded once per run from the file, and rolled back with a refused transaction."""

from __future__ import annotations

import sqlite3

import pytest

from paracle_engine.history.schema import MIGRATIONS
from paracle_engine.history.state import WriterState


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    for sql in MIGRATIONS[0]:
        db.execute(sql)
    db.execute(
        "INSERT INTO runs(id, kind, status, started_at) VALUES ('r', 'workflow', 'failed', 1)"
    )
    db.executemany(
        "INSERT INTO steps(run_id, step_id, seq, status) VALUES ('r', ?, ?, 'completed')",
        [("a", 0), ("b", 1)],
    )
    return db


def test_a_run_is_read_once_and_new_steps_continue_its_seq(conn: sqlite3.Connection) -> None:
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    state = WriterState()
    run = state.run(conn, "r")
    assert run.seqs == {"a": 0, "b": 1}
    assert state.add_step(run, "c") == 2
    assert state.run(conn, "r") is run
    assert len([q for q in queries if q.startswith("SELECT")]) == 1
    state.forget_run("r")
    assert state.run(conn, "r").seqs == {"a": 0, "b": 1}  # read again: "c" was never written


def test_rollback_undoes_every_change_since_begin(conn: sqlite3.Connection) -> None:
    state = WriterState()
    run = state.run(conn, "r")
    state.put(run.messages, "a", 7)
    state.put(run.attempts, "a", 1)
    state.begin()
    state.put(run.messages, "a", 9)
    state.drop(run.attempts, "a")
    state.add_step(run, "c")
    new_run = state.run(conn, "other")
    state.put(new_run.messages, "x", 1)
    state.forget_run("r")
    state.rollback()
    assert state.run(conn, "r") is run
    assert (run.messages, run.attempts, run.seqs) == ({"a": 7}, {"a": 1}, {"a": 0, "b": 1})
    assert len(state) == 1  # "other" was first read inside the rolled back batch


def test_commit_keeps_the_changes(conn: sqlite3.Connection) -> None:
    state = WriterState()
    state.begin()
    run = state.run(conn, "r")
    state.add_step(run, "c")
    state.commit()
    state.rollback()  # nothing left to undo
    assert state.run(conn, "r").seqs == {"a": 0, "b": 1, "c": 2}
