"""The history schema as numbered migrations; `PRAGMA user_version` holds the last one applied.

Each migration is a list of single statements (never a script), so it runs inside the one
explicit transaction that also bumps `user_version`. Append new migrations; never edit old ones.
"""

from __future__ import annotations

MIGRATION_1: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id            TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,              -- agent, workflow (unknown until RunStarted)
        target        TEXT NOT NULL DEFAULT '',   -- agent id or workflow name
        status        TEXT NOT NULL,
        task          TEXT,
        inputs        TEXT NOT NULL DEFAULT '{}',
        provider      TEXT,
        model         TEXT,
        source        TEXT,                       -- workflow file, for resume
        step_ids      TEXT NOT NULL DEFAULT '[]',
        edges         TEXT NOT NULL DEFAULT '{}',
        output        TEXT,
        outputs       TEXT,
        error         TEXT,
        input_tokens  INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        started_at    REAL NOT NULL,
        ended_at      REAL,
        resumed_at    REAL,
        resume_count  INTEGER NOT NULL DEFAULT 0,
        owner         TEXT                        -- host:pid:start of the writing process
    )
    """,
    "CREATE INDEX runs_started ON runs(started_at DESC)",
    "CREATE INDEX runs_status_started ON runs(status, started_at DESC)",
    """
    CREATE TABLE steps (
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_id       TEXT NOT NULL,
        seq           INTEGER NOT NULL DEFAULT 0,
        agent         TEXT,
        provider      TEXT,
        model         TEXT,
        status        TEXT NOT NULL,
        depends_on    TEXT NOT NULL DEFAULT '[]',
        output        TEXT,
        outputs       TEXT,
        error         TEXT,
        reason        TEXT,
        attempts      INTEGER NOT NULL DEFAULT 0,
        input_tokens  INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        started_at    REAL,
        ended_at      REAL,
        PRIMARY KEY (run_id, step_id)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_id    TEXT NOT NULL,
        attempt    INTEGER NOT NULL DEFAULT 1,
        role       TEXT NOT NULL,                 -- system, user, assistant
        content    TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    )
    """,
    "CREATE INDEX messages_run ON messages(run_id, id)",
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END
    """,
    """
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END
    """,
    """
    CREATE TABLE events (
        id      INTEGER PRIMARY KEY,
        run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_id TEXT,
        type    TEXT NOT NULL,
        ts      REAL NOT NULL,
        data    TEXT NOT NULL DEFAULT '{}'
    )
    """,
    "CREATE INDEX events_run ON events(run_id, id)",
    """
    CREATE TABLE usage (
        id            INTEGER PRIMARY KEY,
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_id       TEXT NOT NULL,
        provider      TEXT,
        model         TEXT,
        input_tokens  INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        ts            REAL NOT NULL
    )
    """,
    "CREATE INDEX usage_run ON usage(run_id, id)",
    """
    CREATE TABLE agents (
        id         TEXT PRIMARY KEY,
        spec       TEXT NOT NULL,                 -- AgentSpec as JSON
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
)

# Tool calls of agents that act: one row per call, from ToolCallStarted to ToolCallFinished.
# `result` is what the model got back, cut at the writer's cap (`truncated` says so). Name,
# arguments and result are searchable in their own FTS table, kept in step by triggers.
MIGRATION_2: tuple[str, ...] = (
    """
    CREATE TABLE tool_calls (
        id          INTEGER PRIMARY KEY,
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_id     TEXT NOT NULL,
        attempt     INTEGER NOT NULL DEFAULT 1,
        call_id     TEXT NOT NULL,
        round       INTEGER NOT NULL DEFAULT 1,
        name        TEXT NOT NULL,
        arguments   TEXT NOT NULL DEFAULT '{}',
        summary     TEXT NOT NULL DEFAULT '',
        decision    TEXT,                         -- allow, allow_run, deny (NULL: none recorded)
        rule        TEXT,
        status      TEXT NOT NULL,                -- running, waiting, ok, error, denied, ...
        result      TEXT,
        truncated   INTEGER NOT NULL DEFAULT 0,
        started_at  REAL NOT NULL,
        duration    REAL
    )
    """,
    "CREATE INDEX tool_calls_run ON tool_calls(run_id, id)",
    "CREATE INDEX tool_calls_call ON tool_calls(run_id, step_id, call_id)",
    """
    CREATE VIRTUAL TABLE tool_calls_fts USING fts5(
        name, arguments, result, content='tool_calls', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER tool_calls_ai AFTER INSERT ON tool_calls BEGIN
        INSERT INTO tool_calls_fts(rowid, name, arguments, result)
        VALUES (new.id, new.name, new.arguments, coalesce(new.result, ''));
    END
    """,
    """
    CREATE TRIGGER tool_calls_ad AFTER DELETE ON tool_calls BEGIN
        INSERT INTO tool_calls_fts(tool_calls_fts, rowid, name, arguments, result)
        VALUES ('delete', old.id, old.name, old.arguments, coalesce(old.result, ''));
    END
    """,
    """
    CREATE TRIGGER tool_calls_au AFTER UPDATE OF name, arguments, result ON tool_calls BEGIN
        INSERT INTO tool_calls_fts(tool_calls_fts, rowid, name, arguments, result)
        VALUES ('delete', old.id, old.name, old.arguments, coalesce(old.result, ''));
        INSERT INTO tool_calls_fts(rowid, name, arguments, result)
        VALUES (new.id, new.name, new.arguments, coalesce(new.result, ''));
    END
    """,
)

# MIGRATIONS[i] brings a file from user_version i to i + 1.
MIGRATIONS: tuple[tuple[str, ...], ...] = (MIGRATION_1, MIGRATION_2)

SCHEMA_VERSION = len(MIGRATIONS)
