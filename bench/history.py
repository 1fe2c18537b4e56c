"""How fast the history records and reads, each figure beside a baseline measured in the same run.

- ingest: text deltas per second through HistoryWriter (batched, one message row per step)
  against a writer that inserts and commits one row per delta, both over aiosqlite in WAL mode;
- search: FTS5 search latency over 100,000 stored messages against a LIKE scan of the same rows;
- list: time to list the latest 50 of 10,000 runs with the started_at index against a full scan.

Prints one `RESULT name=value baseline=value unit=...` line per figure. Runs in about a minute.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paracle_engine.events import EventBus, RunStarted, StepCompleted, StepStarted, TextDelta  # noqa: E402
from paracle_engine.history import HistoryStore, HistoryWriter, RunRepository  # noqa: E402

INGEST_DELTAS = 200_000
BASELINE_DELTAS = 10_000
MESSAGES = 100_000
RUNS = 10_000
QUERIES = 40


def result(name: str, value: float, baseline: float, unit: str, note: str) -> None:
    print(f"RESULT {name}={value:.4g} baseline={baseline:.4g} unit={unit}", flush=True)
    print(f"# {name}: {note}", file=sys.stderr)


async def median_ms(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


# --------------------------------------------------------------------------- ingest


async def publish_stream(bus: EventBus, run_id: str, deltas: int) -> None:
    """A fast provider: deltas as quickly as the loop allows, yielding every 200 like a socket read."""
    bus.publish(RunStarted(run_id=run_id, kind="agent", target="bench", task="go"))
    bus.publish(
        StepStarted(
            run_id=run_id, step_id="bench", agent="bench", provider="p", model="m", prompt="go"
        )
    )
    for i in range(deltas):
        bus.publish(TextDelta(run_id=run_id, step_id="bench", text="tok "))
        if i % 200 == 199:
            await asyncio.sleep(0)
    bus.publish(StepCompleted(run_id=run_id, step_id="bench", output="done"))


async def ingest_batched(path: Path) -> float:
    store = await HistoryStore.open(path)
    bus = EventBus()
    writer = await HistoryWriter(store, bus).start()
    start = time.perf_counter()
    await publish_stream(bus, "batched", INGEST_DELTAS)
    await writer.aclose()  # everything is on disk when this returns
    elapsed = time.perf_counter() - start
    row = await store.fetchone("SELECT length(content) FROM messages WHERE role = 'assistant'")
    assert row is not None and row[0] == 4 * INGEST_DELTAS, "the batched writer lost text"
    await store.aclose()
    return INGEST_DELTAS / elapsed


async def ingest_row_per_delta(path: Path) -> float:
    import aiosqlite

    db = await aiosqlite.connect(path, isolation_level=None)
    await db.execute("PRAGMA journal_mode = WAL")
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute(
        "CREATE TABLE deltas (id INTEGER PRIMARY KEY, run_id TEXT, step_id TEXT, text TEXT)"
    )
    bus = EventBus()
    queue: asyncio.Queue[TextDelta | None] = asyncio.Queue()
    bus.subscribe(queue.put_nowait, TextDelta)

    async def consume() -> None:
        while (event := await queue.get()) is not None:
            await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "INSERT INTO deltas(run_id, step_id, text) VALUES (?, ?, ?)",
                (event.run_id, event.step_id, event.text),
            )
            await db.execute("COMMIT")

    consumer = asyncio.create_task(consume())
    start = time.perf_counter()
    await publish_stream(bus, "naive", BASELINE_DELTAS)
    queue.put_nowait(None)
    await consumer
    elapsed = time.perf_counter() - start
    await db.close()
    return BASELINE_DELTAS / elapsed


# --------------------------------------------------------------------------- reads


def words(rng: random.Random, count: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(count)]


def fill(path: Path, rng: random.Random) -> list[str]:
    """10,000 runs and 100,000 messages of 30 words each, written in bulk (triggers index FTS)."""
    vocabulary = words(rng, 20_000)
    conn = sqlite3.connect(path)
    now = time.time()
    run_ids = [f"run-{i:05d}" for i in range(RUNS)]
    with conn:
        conn.executemany(
            "INSERT INTO runs(id, kind, target, status, started_at, ended_at) VALUES (?, 'agent', 'bench', ?, ?, ?)",
            (
                (rid, rng.choice(("completed", "failed")), now - rng.random() * 1e7, now)
                for rid in run_ids
            ),
        )
        conn.executemany(
            "INSERT INTO messages(run_id, step_id, role, content, created_at) VALUES (?, 'bench', ?, ?, ?)",
            (
                (
                    run_ids[i % RUNS],
                    "assistant" if i % 2 else "user",
                    " ".join(rng.choices(vocabulary, k=30)),
                    now,
                )
                for i in range(MESSAGES)
            ),
        )
    conn.close()
    return vocabulary


async def reads(path: Path) -> None:
    rng = random.Random(7)
    start = time.perf_counter()
    store = await HistoryStore.open(path)
    await store.aclose()
    vocabulary = fill(path, rng)
    print(
        f"# filled {MESSAGES} messages and {RUNS} runs in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    store = await HistoryStore.open(path)
    repo = RunRepository(store)
    queries = rng.sample(vocabulary, QUERIES)
    it = iter(queries * 1000)

    async def fts() -> None:
        await repo.search(next(it), limit=20)

    async def like() -> None:
        word = next(it)
        await store.fetchall(
            "SELECT DISTINCT run_id FROM messages WHERE content LIKE ? LIMIT 20", (f"%{word}%",)
        )

    hits = [len(await repo.search(q, limit=20)) for q in queries]
    assert any(hits), "search found nothing"
    search_ms = await median_ms(fts, QUERIES)
    like_ms = await median_ms(like, 10)
    result(
        "history_search_ms",
        search_ms,
        like_ms,
        "ms",
        "FTS5 over 100k messages; baseline: LIKE scan",
    )

    async def latest() -> None:
        runs = await repo.list_runs(limit=50)
        assert len(runs) == 50

    async def unindexed() -> None:
        await store.fetchall(
            "SELECT id, status, started_at FROM runs NOT INDEXED ORDER BY started_at DESC LIMIT 50"
        )

    list_ms = await median_ms(latest, 200)
    scan_ms = await median_ms(unindexed, 50)
    result("history_list50_ms", list_ms, scan_ms, "ms", "latest 50 of 10k runs; baseline: no index")
    await store.aclose()


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="paracle-bench-") as tmp:
        os.environ["PARACLE_HOME"] = tmp
        batched = await ingest_batched(Path(tmp) / "ingest.db")
        naive = await ingest_row_per_delta(Path(tmp) / "naive.db")
        result(
            "history_ingest_deltas_per_s",
            batched,
            naive,
            "deltas/s",
            "baseline: a row and a commit per delta",
        )
        await reads(Path(tmp) / "history.db")


if __name__ == "__main__":
    asyncio.run(main())
