"""HistoryWriter: records the engine's events in batches, never a row per token.

The bus calls `_on_event` inline, so it only appends to a buffer (consecutive text deltas of
one step merge into one piece). One task writes the buffer in one transaction, in one trip to
the database thread: at least every `interval` seconds while text streams, and at once on any
other event (what arrives while a write is under way goes together in the next one). When the
file is locked, full or read-only, the buffer is kept, `HistoryStatus(ok=False)` is published
and the write is tried again with backoff; `HistoryStatus(ok=True)` follows once it succeeds.
Closing waits `close_timeout` for a locked file to come free, but only `unwritable_timeout`
for a full disk or a read-only file, which waiting seldom cures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from paracle_engine.errors import HistoryError, one_line
from paracle_engine.events import Event, EventBus, HistoryStatus, StepEvent, TextDelta
from paracle_engine.history.apply import BatchApplier
from paracle_engine.history.faults import UNWRITABLE, Fault, describe
from paracle_engine.history.redact import Redactor
from paracle_engine.history.runs import RunRepository
from paracle_engine.history.state import WriterState
from paracle_engine.history.store import HistoryStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TextPiece:
    """Deltas of one step that arrived between two other events of that step."""

    run_id: str
    step_id: str
    parts: list[str] = field(default_factory=list)


_HINTS: dict[Fault | None, str] = {
    Fault.FULL: "free some disk space; later runs are saved again once there is room",
    Fault.READ_ONLY: "make the history file and its folder writable, or set PARACLE_HOME",
    Fault.DENIED: "check the history file's owner and permissions, or set PARACLE_HOME",
    Fault.BUSY: "close the other program using the history file",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
        unwritable_timeout: float = 2.0,
        batch_limit: int = 5000,
        secrets: Iterable[str] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self.unwritable_timeout = min(unwritable_timeout, close_timeout)
        # Most items a transaction takes: a long backlog is written in steps that show progress.
        self.batch_limit = max(1, batch_limit)
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
        self._fault: Fault | None = None
        self._stop = asyncio.Event()
        self._inflight: list[Event | TextPiece] = []
        self._last_flush = 0.0
        self._last_success = 0.0
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
        """Stop listening and write everything buffered, however long a big run takes.

        Raises HistoryError if no write succeeds for `close_timeout` seconds (the store stays
        locked) or `unwritable_timeout` (the disk is full, the file read-only), saying why and
        how much was not saved.
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
        loop = asyncio.get_running_loop()
        try:
            # Waits while writes keep succeeding: the limit is on a stuck store, not on a long run.
            self._last_success = loop.time()
            while not task.done():
                limit = self.unwritable_timeout if self._fault in UNWRITABLE else self.close_timeout
                left = self._last_success + limit - loop.time()
                if left <= 0:
                    await self._give_up(task)
                    return
                # Woken now and then: a write failing meanwhile may shorten the limit.
                await asyncio.wait({task}, timeout=min(left, 0.2))
            task.result()
        finally:
            self._task = None

    async def _give_up(self, task: asyncio.Task[None]) -> None:
        """Stop retrying, let a write already under way end (so the count is exact), and raise."""
        self._stop.set()
        # A write under way ends within the store's busy timeout; a hung disk gets no longer.
        await asyncio.wait({task}, timeout=self.store.busy_timeout + 1.0)
        unsure = 0
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            unsure = len(self._inflight)
        if not self._buffer and not unsure:
            return  # the last write went through after all
        events = sum(1 for item in self._buffer if not isinstance(item, TextPiece))
        texts = len({(p.run_id, p.step_id) for p in self._buffer if isinstance(p, TextPiece)})
        lost: list[str] = []
        if self._buffer:
            what = [_count(events, "event")] if events else []
            what += [f"the text of {_count(texts, 'step')}"] if texts else []
            verb = "was" if len(self._buffer) == 1 else "were"
            lost.append(f"{' and '.join(what)} {verb} not saved")
        if unsure:
            lost.append(f"{unsure} more being written then may not have been saved")
        why = self._failing or f"no write finished in {self.close_timeout:g} s"
        raise HistoryError(
            f"the history could not be written: {why}; {'; '.join(lost)}",
            hint=_HINTS.get(self._fault, "free disk space or close the program using the history"),
            fault=self._fault,
        )

    async def flush(self) -> None:
        """Write what is buffered now (raises sqlite3.OperationalError if the store refuses)."""
        left = len(self._buffer)
        while left > 0 and self._buffer:
            left -= await self._flush()

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
        while not self._stop.is_set():
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
                taken = await self._flush()
            except sqlite3.OperationalError as exc:
                await self._report_failure(exc)
                self._pending.set()
                # The pause ends early when a closing writer gives up.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stop.wait()
                backoff = min(backoff * 2, self.max_backoff)
                continue
            finally:
                self._last_flush = loop.time()
            backoff = self.interval
            self._last_success = self._last_flush
            self._report_recovery()
            if self._buffer and (self._closing or taken >= self.batch_limit):
                self._urgent.set()  # the rest of a backlog goes on at once
                self._pending.set()
            elif self._closing and not self._buffer:
                return

    async def _flush(self) -> int:
        """Write the oldest `batch_limit` items in one transaction; returns how many were taken."""
        # One flush at a time: each builds on the state the previous one committed.
        async with self._flush_lock:
            if not self._buffer:
                return 0
            batch = self._buffer[: self.batch_limit]
            del self._buffer[: self.batch_limit]
            # Text arriving from now on starts new pieces, which land after the ones taken.
            self._open_text.clear()
            # Cancelled mid-write, the batch may still commit on the connection's thread:
            # `_inflight` keeps it, so a closing writer can say it is unsure of it.
            self._inflight = batch
            try:
                await self._write(batch)
            except sqlite3.OperationalError:
                self._inflight = []
                self._buffer[:0] = batch  # kept, in order, ahead of what arrived meanwhile
                raise
            except Exception:
                # Not the file's state but one bad record: write the others one by one.
                log.exception("history batch refused; writing its %d events one by one", len(batch))
                try:
                    await self._apply_one_by_one(batch)
                except sqlite3.OperationalError:
                    self._inflight = []
                    raise
                self._inflight = []
                return len(batch)
            self._inflight = []
            self.flushes += 1
            return len(batch)

    async def _write(self, batch: list[Event | TextPiece]) -> None:
        """One transaction, one trip to the connection's thread; the state follows the commit."""
        state = self._state
        applier = self._applier

        def work(conn: sqlite3.Connection) -> None:
            state.begin()
            applier.apply(conn, batch, state)

        try:
            await self.store.write(work)
        except asyncio.CancelledError:
            # The write may finish unseen: start again from what the file holds.
            self._state = WriterState()
            raise
        except BaseException:
            state.rollback()
            raise
        state.commit()

    async def _apply_one_by_one(self, batch: list[Event | TextPiece]) -> None:
        for i, item in enumerate(batch):
            try:
                await self._write([item])
            except sqlite3.OperationalError:
                self._buffer[:0] = batch[i:]
                raise
            except Exception:
                log.exception("history could not record %s", type(item).__name__)
                continue

    async def _report_failure(self, exc: sqlite3.OperationalError) -> None:
        path = self.store.path
        try:
            # Naming the fault may ask the file system (free space, a read-only mount).
            async with asyncio.timeout(self.store.busy_timeout + 1.0):
                fault, why = await asyncio.to_thread(describe, exc, path)
        except TimeoutError:
            fault, why = Fault.IO, one_line(exc, kind=False)
        first = self._failing is None
        self._fault = fault
        self._failing = why
        if first:
            # Info, not a warning: the fronts show the HistoryStatus published here.
            log.info("history cannot be written: %s; keeping %d events", why, len(self._buffer))
            self.bus.publish(
                HistoryStatus(run_id="", ok=False, error=f"history cannot be written: {why}")
            )

    def _report_recovery(self) -> None:
        if self._failing is not None:
            self._failing = None
            self._fault = None
            log.info("history writes recovered")
            self.bus.publish(HistoryStatus(run_id="", ok=True))
