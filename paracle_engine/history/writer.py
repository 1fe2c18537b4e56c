"""HistoryWriter: records the engine's events in batches, never a row per token.

The bus calls `_on_event` inline, so it only appends to a buffer (consecutive text deltas of
one step merge into one piece). One task writes the buffer in one transaction: at least every
`interval` seconds while text streams, and at once on any other event. When the file is
locked, full or read-only, the buffer is kept, `HistoryStatus(ok=False)` is published and the
write is tried again with backoff; `HistoryStatus(ok=True)` follows once it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import HistoryError
from ..events import Event, EventBus, HistoryStatus, StepEvent, TextDelta
from .apply import BatchApplier, Redactor, WriterState
from .runs import RunRepository
from .store import HistoryStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TextPiece:
    """Deltas of one step that arrived between two other events of that step."""

    run_id: str
    step_id: str
    parts: list[str] = field(default_factory=list)


class HistoryWriter:
    """Subscribes to `bus` and writes every run's events to `store`.

    Start with `await writer.start()`; `await writer.aclose()` writes what is still buffered.
    """

    def __init__(
        self,
        store: HistoryStore,
        bus: EventBus,
        *,
        interval: float = 0.1,
        max_backoff: float = 5.0,
        close_timeout: float = 10.0,
        secrets: Iterable[str] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self._redactor = Redactor(secrets)
        self._applier = BatchApplier(self._redactor)
        self._state = WriterState()
        self._buffer: list[Event | TextPiece] = []
        self._open_text: dict[tuple[str, str], TextPiece] = {}
        self._pending = asyncio.Event()
        self._urgent = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: object = None
        self._closing = False
        self._failing: str | None = None
        self._last_flush = 0.0
        self.flushes = 0

    # ------------------------------------------------------------------ lifecycle

    async def mark_interrupted(self) -> list[str]:
        """Mark runs a dead process left `running` as `interrupted`; returns their ids."""
        return await RunRepository(self.store).mark_interrupted()

    def add_secret(self, secret: str) -> None:
        """Never store `secret`: it is replaced wherever it would be written."""
        self._redactor.add(secret)

    async def start(self) -> HistoryWriter:
        """Subscribe to the bus and start the writing task."""
        if self._task is None:
            self._unsubscribe = self.bus.subscribe(self._on_event)
            self._last_flush = asyncio.get_running_loop().time()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="paracle-history-writer"
            )
        return self

    async def aclose(self) -> None:
        """Stop listening and write everything buffered.

        Raises HistoryError if the store stays unwritable for `close_timeout` seconds.
        """
        if callable(self._unsubscribe):
            self._unsubscribe()
            self._unsubscribe = None
        task = self._task
        if task is None:
            return
        self._closing = True
        self._pending.set()
        self._urgent.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.close_timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            lost = len(self._buffer)
            raise HistoryError(
                f"the history could not be written ({self._failing}); "
                f"{lost} buffered events were not saved",
                hint="free disk space or close the program holding the history file",
            ) from None
        finally:
            self._task = None

    async def flush(self) -> None:
        """Write what is buffered now (raises sqlite3.OperationalError if the store refuses)."""
        await self._flush()

    @property
    def failing(self) -> str | None:
        """The last write error while the store refuses writes, else None."""
        return self._failing

    # ------------------------------------------------------------------ the bus side

    def _on_event(self, event: Event) -> None:
        if not event.run_id or isinstance(event, HistoryStatus):
            return
        if isinstance(event, TextDelta):
            if not event.text:
                return
            key = (event.run_id, event.step_id)
            piece = self._open_text.get(key)
            if piece is None:
                piece = self._open_text[key] = TextPiece(event.run_id, event.step_id)
                self._buffer.append(piece)
            piece.parts.append(event.text)
            self._pending.set()
            return
        # Any other event of a step closes its text piece, so later text lands after it.
        if isinstance(event, StepEvent):
            self._open_text.pop((event.run_id, event.step_id), None)
        elif self._open_text:
            for key in [k for k in self._open_text if k[0] == event.run_id]:
                del self._open_text[key]
        self._buffer.append(event)
        self._urgent.set()
        self._pending.set()

    # ------------------------------------------------------------------ the writing task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.interval
        while True:
            await self._pending.wait()
            if not self._urgent.is_set():
                # Only text waits: gather it until the interval is up or a status change comes.
                delay = self._last_flush + self.interval - loop.time()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._urgent.wait()
            self._pending.clear()
            self._urgent.clear()
            try:
                await self._flush()
            except sqlite3.OperationalError as exc:
                self._report_failure(exc)
                self._pending.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            finally:
                self._last_flush = loop.time()
            backoff = self.interval
            self._report_recovery()
            if self._closing and not self._buffer:
                return

    async def _flush(self) -> None:
        # One flush at a time: each builds on the state the previous one committed.
        async with self._flush_lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            self._open_text.clear()
            state = self._state.copy()
            try:
                async with self.store.transaction() as db:
                    await self._applier.apply(db, batch, state)
            except sqlite3.OperationalError:
                self._buffer[:0] = batch  # kept, in order, ahead of what arrived meanwhile
                raise
            except Exception:
                # Not the file's state but one bad record: write the others one by one.
                log.exception("history batch refused; writing its %d events one by one", len(batch))
                await self._apply_one_by_one(batch)
                return
            self._state = state
            self.flushes += 1

    async def _apply_one_by_one(self, batch: list[Event | TextPiece]) -> None:
        for i, item in enumerate(batch):
            state = self._state.copy()
            try:
                async with self.store.transaction() as db:
                    await self._applier.apply(db, [item], state)
            except sqlite3.OperationalError:
                self._buffer[:0] = batch[i:]
                raise
            except Exception:
                log.exception("history could not record %s", type(item).__name__)
                continue
            self._state = state

    def _report_failure(self, exc: sqlite3.OperationalError) -> None:
        message = f"history cannot be written: {exc}"
        if self._failing is None:
            log.warning("%s; keeping %d events to write later", message, len(self._buffer))
            self.bus.publish(HistoryStatus(run_id="", ok=False, error=message))
        self._failing = message

    def _report_recovery(self) -> None:
        if self._failing is not None:
            self._failing = None
            log.info("history writes recovered")
            self.bus.publish(HistoryStatus(run_id="", ok=True))
