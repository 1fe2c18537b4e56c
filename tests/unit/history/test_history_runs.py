"""RunRepository: listing, prefixes, search, delete, export and what resume needs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from paracle_engine.errors import BadInputError
from paracle_engine.events import (
    EventBus,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepCompleted,
    StepPending,
    StepSkipped,
    StepStarted,
    TextDelta,
    UsageReported,
)
from paracle_engine.history import History, RunRepository, fts_query, open_history
from paracle_engine.models import StepStatus, Usage


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
async def history() -> AsyncIterator[History]:
    bus = EventBus()
    h = await open_history(bus)
    h.bus = bus  # type: ignore[attr-defined]
    yield h
    await h.aclose()
    await bus.aclose()


def agent_run(
    bus: EventBus, run_id: str, answer: str, *, ts: float, status: str = "completed"
) -> None:
    bus.publish(
        RunStarted(run_id=run_id, kind="agent", target="bot", task=f"task of {run_id}", ts=ts)
    )
    bus.publish(
        StepStarted(
            run_id=run_id,
            step_id="bot",
            agent="bot",
            provider="p",
            model="m",
            prompt="question",
            ts=ts,
        )
    )
    for word in answer.split(" "):
        bus.publish(TextDelta(run_id=run_id, step_id="bot", text=word + " ", ts=ts))
    if status == "completed":
        bus.publish(StepCompleted(run_id=run_id, step_id="bot", output=answer, ts=ts + 1))
        bus.publish(RunCompleted(run_id=run_id, output=answer, ts=ts + 1))
    else:
        bus.publish(RunFailed(run_id=run_id, error="provider said no", ts=ts + 1))


def workflow_run(bus: EventBus, run_id: str = "20260101-120000-abcdef") -> None:
    bus.publish(
        RunStarted(
            run_id=run_id,
            kind="workflow",
            target="review",
            inputs={"topic": "owls"},
            source="/ws/.parac/workflows/review.yaml",
            step_ids=["draft", "check", "ship"],
            edges={"draft": [], "check": ["draft"], "ship": ["check"]},
            ts=1000.0,
        )
    )
    for step, deps in (("draft", []), ("check", ["draft"]), ("ship", ["check"])):
        bus.publish(StepPending(run_id=run_id, step_id=step, agent="bot", depends_on=deps))
    bus.publish(
        StepStarted(run_id=run_id, step_id="draft", agent="bot", provider="p", model="m", ts=1001.0)
    )
    bus.publish(TextDelta(run_id=run_id, step_id="draft", text="Owls hunt at night."))
    bus.publish(UsageReported(run_id=run_id, step_id="draft", usage=Usage(12, 34)))
    bus.publish(
        StepCompleted(
            run_id=run_id,
            step_id="draft",
            output="Owls hunt at night.",
            outputs={"title": "Owls"},
            usage=Usage(12, 34),
            attempts=2,
            ts=1002.0,
        )
    )
    bus.publish(
        StepStarted(run_id=run_id, step_id="check", agent="bot", provider="p", model="m", ts=1003.0)
    )
    bus.publish(TextDelta(run_id=run_id, step_id="check", text="Checking the cla"))


async def test_list_is_newest_first_paged_and_filtered(history: History) -> None:
    for i in range(7):
        agent_run(
            history.bus,
            f"run-{i}",
            f"answer {i}",
            ts=1000.0 + i,
            status="completed" if i % 3 else "failed",
        )
    await history.writer.flush()
    runs = history.runs
    first = await runs.list_runs(limit=3)
    assert [r.id for r in first] == ["run-6", "run-5", "run-4"]
    second = await runs.list_runs(limit=3, offset=3)
    assert [r.id for r in second] == ["run-3", "run-2", "run-1"]
    failed = await runs.list_runs(status="failed")
    assert [r.id for r in failed] == ["run-6", "run-3", "run-0"]
    assert failed[0].error == "provider said no"
    assert await runs.count_runs() == 7
    assert await runs.count_runs("failed") == 3
    assert first[1].duration == 1.0 and first[1].task == "task of run-5"
    with pytest.raises(ValueError):
        await runs.list_runs(status="sideways")


async def test_listing_uses_the_started_at_index(history: History) -> None:
    rows = await history.store.fetchall(
        "EXPLAIN QUERY PLAN SELECT id FROM runs ORDER BY started_at DESC LIMIT 50"
    )
    plan = " ".join(str(r["detail"]) for r in rows)
    assert "runs_started" in plan and "TEMP B-TREE" not in plan


async def test_run_ids_may_be_unique_prefixes(history: History) -> None:
    for run_id in ("20260101-a1", "20260101-b2", "20260102-c3"):
        agent_run(history.bus, run_id, "hi", ts=1.0)
    await history.writer.flush()
    runs = history.runs
    assert await runs.resolve_id("20260102") == "20260102-c3"
    assert (await runs.get_run("20260101-b")).run.id == "20260101-b2"
    with pytest.raises(BadInputError, match="ambiguous"):
        await runs.resolve_id("20260101")
    with pytest.raises(BadInputError, match="no run with id") as info:
        await runs.get_run("nope")
    assert info.value.exit_code == 2
    with pytest.raises(BadInputError):
        await runs.resolve_id("  ")


async def test_get_run_has_steps_messages_usage_and_events(history: History) -> None:
    workflow_run(history.bus)
    await history.writer.flush()
    detail = await history.runs.get_run("20260101")
    assert detail.run.status == "running"
    assert detail.inputs == {"topic": "owls"}
    assert detail.edges["ship"] == ["check"]
    assert [s.step_id for s in detail.steps] == ["draft", "check", "ship"]
    draft = detail.step("draft")
    assert (draft.status, draft.outputs, draft.attempts) == ("completed", {"title": "Owls"}, 2)
    assert draft.usage == Usage(12, 34)
    assert [(m.role, m.content) for m in draft.messages] == [("assistant", "Owls hunt at night.")]
    assert detail.step("check").messages[0].content == "Checking the cla"
    assert [u.usage for u in detail.usage_calls] == [Usage(12, 34)]
    assert [e.type for e in detail.events][:2] == ["RunStarted", "StepPending"]
    as_json = json.loads(json.dumps(detail.to_dict()))
    assert as_json["steps"][0]["messages"][0]["content"] == "Owls hunt at night."


def test_user_text_becomes_a_safe_fts_query() -> None:
    assert fts_query("foo-bar") == '"foo-bar"'
    assert fts_query('say "hi') == '"say" """hi"'
    assert fts_query("deploy* NEAR( AND") == '"deploy"* "NEAR(" "AND"'
    assert fts_query(' " * - ') == ""


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"', []),
        ("foo-bar", ["r1"]),
        ("a AND OR", []),
        ("NEAR(x y)", []),
        ("col:value", []),
        ("(((", []),
        ("*", []),
        ("-owls", ["r1"]),
        ("^start", []),
        ("x'); DROP", []),
    ],
)
async def test_search_never_breaks_on_odd_input(
    history: History, query: str, found: list[str]
) -> None:
    agent_run(history.bus, "r1", "foo bar owls", ts=1.0)
    await history.writer.flush()
    assert [h.run_id for h in await history.runs.search(query)] == found
    # the odd input was read as words, not syntax: the store still answers a plain search
    assert [h.run_id for h in await history.runs.search("owls")] == ["r1"]


async def test_search_finds_a_run_by_a_word_of_its_answer(history: History) -> None:
    agent_run(history.bus, "r1", "the migration of arctic terns is long", ts=1.0)
    agent_run(history.bus, "r2", "penguins cannot fly; foo-bar is a placeholder", ts=2.0)
    agent_run(history.bus, "r3", "terns terns terns everywhere, Pingüino", ts=3.0)
    await history.writer.flush()
    runs = history.runs
    hits = await runs.search("terns")
    assert {h.run_id for h in hits} == {"r1", "r3"}
    assert hits[0].run_id == "r3"  # the better match first
    assert "«terns»" in hits[0].snippet
    assert [h.run_id for h in await runs.search("foo-bar")] == ["r2"]
    assert [h.run_id for h in await runs.search("migra*")] == ["r1"]
    assert [h.run_id for h in await runs.search("pinguino")] == ["r3"]  # diacritics folded
    assert await runs.search("terns penguins") == []  # every word must match
    assert await runs.search("") == []


async def test_one_hit_per_run(history: History) -> None:
    bus = history.bus
    agent_run(bus, "r1", "kestrel", ts=1.0)
    bus.publish(
        StepStarted(
            run_id="r1",
            step_id="second",
            agent="bot",
            provider="p",
            model="m",
            prompt="kestrel again",
        )
    )
    await history.writer.flush()
    hits = await history.runs.search("kestrel")
    assert [h.run_id for h in hits] == ["r1"]


async def test_delete_removes_everything_of_the_run(history: History) -> None:
    agent_run(history.bus, "keep", "common word alpha", ts=1.0)
    workflow_run(history.bus, run_id="gone-1")
    history.bus.publish(TextDelta(run_id="gone-1", step_id="check", text=" common word"))
    await history.writer.flush()
    assert await history.runs.delete("gone") == "gone-1"
    store = history.store
    for table in ("runs", "steps", "messages", "events", "usage"):
        row = await store.fetchone(
            f"SELECT count(*) FROM {table} WHERE {'id' if table == 'runs' else 'run_id'} = 'gone-1'"
        )
        assert row[0] == 0, table
    assert [h.run_id for h in await history.runs.search("common")] == ["keep"]
    assert (await store.fetchone("SELECT count(*) FROM messages_fts"))[
        0
    ] == 2  # keep's prompt and answer
    with pytest.raises(BadInputError):
        await history.runs.delete("gone-1")


async def test_export_markdown_and_json(history: History) -> None:
    workflow_run(history.bus)
    await history.writer.flush()
    md = await history.runs.export("20260101", "md")
    assert md.startswith("# workflow run 20260101-120000-abcdef: review")
    assert "## Step draft (completed)" in md and "Owls hunt at night." in md
    assert "Checking the cla" in md
    data = json.loads(await history.runs.export("20260101", "json"))
    assert data["id"] == "20260101-120000-abcdef"
    assert [s["step_id"] for s in data["steps"]] == ["draft", "check", "ship"]
    with pytest.raises(BadInputError, match="unknown export format"):
        await history.runs.export("20260101", "pdf")


async def test_export_markdown_fences_survive_backticks(history: History) -> None:
    agent_run(history.bus, "r1", "here is code ``` and ```` more", ts=1.0)
    await history.writer.flush()
    md = await history.runs.export("r1", "md")
    assert "`````text\nhere is code" in md


async def test_resume_state_after_a_crash(history: History) -> None:
    workflow_run(history.bus)
    history.bus.publish(StepSkipped(run_id="20260101-120000-abcdef", step_id="ship", reason="no"))
    await history.writer.aclose()
    # What the next start does: the run's process is gone.
    async with history.store.transaction() as db:
        await db.execute("UPDATE runs SET owner = NULL")
    assert await history.runs.mark_interrupted() == ["20260101-120000-abcdef"]
    state = await history.runs.load_resume_state("20260101-12")
    assert (state.workflow, state.source, state.inputs, state.status) == (
        "review",
        "/ws/.parac/workflows/review.yaml",
        {"topic": "owls"},
        "interrupted",
    )
    assert list(state.completed) == ["draft"]
    draft = state.completed["draft"]
    assert (draft.status, draft.output, draft.outputs, draft.attempts) == (
        StepStatus.COMPLETED,
        "Owls hunt at night.",
        {"title": "Owls"},
        2,
    )
    assert draft.usage == Usage(12, 34)
    assert (draft.started_at, draft.ended_at) == (1001.0, 1002.0)
    assert state.steps["check"].status == StepStatus.INTERRUPTED
    assert state.steps["ship"].status == StepStatus.SKIPPED
    assert state.step_ids == ["draft", "check", "ship"]


async def test_resume_is_refused_for_agent_runs_and_finished_runs(history: History) -> None:
    agent_run(history.bus, "agent-run", "done", ts=1.0)
    history.bus.publish(RunStarted(run_id="wf-done", kind="workflow", target="w"))
    history.bus.publish(RunCompleted(run_id="wf-done"))
    history.bus.publish(RunStarted(run_id="wf-live", kind="workflow", target="w"))
    await history.writer.flush()
    runs: RunRepository = history.runs
    with pytest.raises(BadInputError, match="agent run"):
        await runs.load_resume_state("agent-run")
    with pytest.raises(BadInputError, match="already completed"):
        await runs.load_resume_state("wf-done")
    with pytest.raises(BadInputError, match="still running"):
        await runs.load_resume_state("wf-live")
