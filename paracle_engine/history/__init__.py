"""Paracle's run history: one SQLite file, written in batches from the engine's events.

`open_history(bus)` gives a `History`: the store, the writer (already subscribed) and the
repositories the fronts read through. Close it with `aclose()`, which writes what is buffered.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from paracle_engine.errors import HistoryError
from paracle_engine.events import EventBus
from paracle_engine.history.agents import AgentRepository, AsyncSQLiteRepository
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
)
from paracle_engine.history.runs import RunRepository, fts_query
from paracle_engine.history.store import HistoryStore
from paracle_engine.history.writer import HistoryWriter

log = logging.getLogger(__name__)


class History:
    """An open history: `store`, `writer`, `runs` and `agents`."""

    def __init__(self, store: HistoryStore, writer: HistoryWriter | None) -> None:
        self.store = store
        self.writer = writer
        self.runs = RunRepository(store)
        self.agents = AsyncSQLiteRepository(store)

    async def mark_interrupted(self) -> list[str]:
        """Mark runs a dead process left `running` as `interrupted`; their ids.

        Raises HistoryError when another process holds the write lock.
        """
        try:
            return await self.runs.mark_interrupted()
        except sqlite3.OperationalError as exc:
            raise HistoryError(f"could not mark interrupted runs: {exc}") from exc

    async def aclose(self) -> None:
        """Write everything buffered, then close the file."""
        try:
            if self.writer is not None:
                await self.writer.aclose()
        finally:
            await self.store.aclose()


async def open_history(
    bus: EventBus | None = None,
    *,
    path: Path | str | None = None,
    secrets: Iterable[str] | None = None,
    interval: float = 0.1,
    read_only_ok: bool = False,
) -> History:
    """Open the history file; with a `bus`, mark dead runs interrupted and start recording.

    `secrets` are values never to be stored (API keys); by default the providers' key
    variables found in the environment. With `read_only_ok` (and no bus), a file that cannot
    be written is opened for reading only: `history.store.read_only` says why.
    """
    store = await HistoryStore.open(path, read_only_ok=read_only_ok and bus is None)
    try:
        writer = None
        if bus is not None:
            writer = HistoryWriter(store, bus, interval=interval, secrets=secrets)
            try:
                await writer.mark_interrupted()
            except (
                sqlite3.OperationalError
            ) as exc:  # locked by another process: mark them next time
                log.warning("could not mark interrupted runs: %s", exc)
            await writer.start()
    except BaseException:
        await store.aclose()
        raise
    return History(store, writer)


__all__ = [
    "AgentRepository",
    "AsyncSQLiteRepository",
    "EventRecord",
    "History",
    "HistoryStore",
    "HistoryWriter",
    "MessageRecord",
    "ResumeState",
    "RunDetail",
    "RunRepository",
    "RunSummary",
    "SearchHit",
    "StepRecord",
    "ToolCallRecord",
    "UsageRecord",
    "fts_query",
    "open_history",
]
