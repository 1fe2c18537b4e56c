"""What the batch applier writes: resumed runs continue their rows, and full-text search stays whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paracle_engine.events import (
    EventBus,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepCompleted,
    StepFailed,
    StepPending,
    StepStarted,
    TextDelta,
)
from paracle_engine.history import HistoryStore, HistoryWriter, RunRepository


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    s = await HistoryStore.open(tmp_path / "history.db")
    yield s
    await s.aclose()


async def record(store: HistoryStore, *events: object, **options: object) -> HistoryWriter:
    """Publish `events` through a fresh writer (a new process, as far as it knows) and close it."""
    bus = EventBus()
    writer = await HistoryWriter(store, bus, secrets=[], **options).start()  # type: ignore[arg-type]
    for event in events:
        if event == "flush":
            await writer.flush()
        else:
            bus.publish(event)  # type: ignore[arg-type]
    await writer.aclose()
    return writer


def started(run: str, step: str, prompt: str = "go", attempt: int = 1) -> StepStarted:
    return StepStarted(
        run_id=run,
        step_id=step,
        agent="bot",
        provider="p",
        model="m",
        prompt=prompt,
        attempt=attempt,
    )


async def test_a_run_resumed_by_another_writer_continues_its_rows(store: HistoryStore) -> None:
    await record(
        store,
        RunStarted(run_id="w", kind="workflow", target="flow", ts=1.0),
        StepPending(run_id="w", step_id="a"),
        StepPending(run_id="w", step_id="b", depends_on=["a"]),
        started("w", "a"),
        StepCompleted(run_id="w", step_id="a", output="first"),
        started("w", "b"),
        StepFailed(run_id="w", step_id="b", error="boom", partial="half"),
        RunFailed(run_id="w", error="boom"),
    )
    await record(
        store,
        RunStarted(run_id="w", kind="workflow", target="flow", ts=2.0, resumed=True),
        StepPending(run_id="w", step_id="b", depends_on=["a"]),
        StepPending(run_id="w", step_id="c", depends_on=["b"]),
        started("w", "b", prompt="again"),
        TextDelta(run_id="w", step_id="b", text="whole"),
        StepCompleted(run_id="w", step_id="b", output="whole"),
        started("w", "c"),
        StepCompleted(run_id="w", step_id="c", output="last"),
        RunCompleted(run_id="w", output="last"),
    )
    steps = await store.fetchall("SELECT step_id, seq, status, output FROM steps ORDER BY seq")
    assert [tuple(s) for s in steps] == [
        ("a", 0, "completed", "first"),
        ("b", 1, "completed", "whole"),
        ("c", 2, "completed", "last"),
    ]
    messages = await store.fetchall(
        "SELECT step_id, role, content FROM messages WHERE step_id = 'b' ORDER BY id"
    )
    assert [tuple(m) for m in messages] == [
        ("b", "user", "go"),
        ("b", "assistant", "half"),
        ("b", "user", "again"),
        ("b", "assistant", "whole"),
    ]


async def test_an_answer_is_not_stored_twice_for_a_step_completed_again(
    store: HistoryStore,
) -> None:
    # The second writer never saw the step start, so the file decides.
    await record(
        store,
        RunStarted(run_id="w", kind="workflow", target="flow"),
        started("w", "a"),
        StepCompleted(run_id="w", step_id="a", output="answer"),
    )
    await record(store, StepCompleted(run_id="w", step_id="a", output="answer"))
    rows = await store.fetchall("SELECT role FROM messages ORDER BY id")
    assert [r["role"] for r in rows] == ["user", "assistant"]


async def test_search_finds_text_streamed_over_many_batches(store: HistoryStore) -> None:
    events: list[object] = [RunStarted(run_id="s", kind="workflow", target="flow")]
    for step in ("a", "b", "c"):
        events.append(started("s", step, prompt=f"prompt for {step}"))
    for i in range(30):
        for step in ("a", "b", "c"):
            events.append(TextDelta(run_id="s", step_id=step, text=f"{step}word{i} "))
        if i % 7 == 0:
            events.append("flush")
    for step in ("a", "b", "c"):
        events.append(StepCompleted(run_id="s", step_id=step, output="done"))
    # Small batches, so appends land both in rows of the same batch and in rows already written.
    await record(store, *events, batch_limit=4)
    async with store.transaction() as db:
        # Checks the index against the messages table itself.
        await db.execute(
            "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)"
        )
    contents = await store.fetchall(
        "SELECT step_id, content FROM messages WHERE role = 'assistant' ORDER BY step_id"
    )
    assert [tuple(c) for c in contents] == [
        (step, "".join(f"{step}word{i} " for i in range(30))) for step in ("a", "b", "c")
    ]
    repo = RunRepository(store)
    for word in ("aword0", "bword29", "cword14", "prompt"):
        hits = await repo.search(word)
        assert [h.run_id for h in hits] == ["s"], word
