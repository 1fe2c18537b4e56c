"""The one fold of run events into run state, fed by real engine runs and by hand-made ones."""

from __future__ import annotations

import pytest

from paracle_engine.config import Settings
from paracle_engine.engine import Engine
from paracle_engine.events import (
    Event,
    RunCancelled,
    RunStarted,
    StepApprovalDecided,
    StepAwaitingApproval,
    StepCompleted,
    StepFailed,
    StepRetrying,
    StepStarted,
    TextDelta,
)
from paracle_engine.runs import RunState
from paracle_engine.vocabulary import (
    RUN_GLYPHS,
    RUN_GLYPHS_ASCII,
    RUN_STATUSES,
    STEP_GLYPHS,
    STEP_GLYPHS_ASCII,
    STEP_STATUSES,
    format_duration,
    format_tokens,
    run_glyph,
    step_glyph,
    wants_ascii,
)
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace


@pytest.fixture
def workspace():
    return load_workspace(demo_workspace_path())


def fold(events: list[Event]) -> RunState:
    run = RunState(events[0].run_id)
    for event in events:
        assert event.run_id == run.run_id
        run.apply(event)
    return run


async def test_a_real_workflow_run_folds_into_what_the_engine_returned(workspace):
    events: list[Event] = []
    name = next(iter(workspace.workflows))
    async with Engine(workspace, settings=Settings(simulated_pace=0), provider="simulated") as e:
        e.bus.subscribe(events.append)
        spec = e.workflow(name)
        inputs = {k: "the plan" for k, i in spec.inputs.items() if i.required}
        result = await e.run_workflow(spec, inputs)
    assert any(isinstance(ev, TextDelta) for ev in events)
    run = fold(events)
    assert (run.kind, run.target, run.status) == ("workflow", spec.name, "completed")
    assert run.step_ids == [s.id for s in spec.steps]
    assert run.ended_at is not None and not run.active
    for sid, res in result.steps.items():
        step = run.steps[sid]
        assert step.status == str(res.status)
        # The engine stamps its result a moment apart from the events.
        assert step.started_at == pytest.approx(res.started_at, abs=0.5)
        assert step.ended_at == pytest.approx(res.ended_at, abs=0.5)
        assert step.attempt == res.attempts
        assert step.usage == res.usage and step.tokens == res.usage.total
        assert step.text == res.output and step.length == len(res.output)
        assert step.ended and not step.streaming and step.note is None
    assert run.usage == result.usage


async def test_a_real_agent_run_is_a_run_of_one_step(workspace):
    events: list[Event] = []
    agent = next(iter(workspace.agents))
    async with Engine(workspace, settings=Settings(simulated_pace=0), provider="simulated") as e:
        e.bus.subscribe(events.append)
        result = await e.execute_agent(agent, "Summarise the plan in two lines")
    run = fold(events)
    assert (run.kind, run.target, run.output, run.status) == (
        "agent",
        agent,
        result.output,
        "completed",
    )
    assert list(run.steps) == [agent]
    step = run.steps[agent]
    assert (step.provider, step.text, step.usage) == ("simulated", result.output, result.usage)
    assert run.provider == "simulated"


def started(resumed: bool = False, ts: float = 1.0) -> RunStarted:
    return RunStarted(
        run_id="r1",
        kind="workflow",
        target="wf",
        step_ids=["a", "b"],
        edges={"b": ["a"]},
        resumed=resumed,
        ts=ts,
    )


def step_started(sid: str, attempt: int = 1, ts: float = 2.0) -> StepStarted:
    return StepStarted(
        run_id="r1", step_id=sid, agent="w", provider="p", model="m", attempt=attempt, ts=ts
    )


def test_a_retried_step_writes_its_answer_afresh_and_keeps_its_first_start():
    run = fold(
        [
            started(),
            step_started("a"),
            TextDelta(run_id="r1", step_id="a", text="half"),
            StepRetrying(run_id="r1", step_id="a", attempt=2, max_attempts=3, delay=0, error="x"),
        ]
    )
    a = run.steps["a"]
    assert a.retrying and a.note == "retry 2/3: x" and a.text == "half" and a.streaming
    touched = run.apply(step_started("a", attempt=2, ts=5.0))
    assert touched is a and not a.retrying and a.note == "attempt 2"
    assert (a.text, a.length, a.started_at) == ("", 0, 2.0)
    run.apply(TextDelta(run_id="r1", step_id="a", text="whole"))
    run.apply(StepCompleted(run_id="r1", step_id="a", output="whole", attempts=2, ts=9.0))
    assert (a.status, a.text, a.attempt, a.note, a.elapsed(100.0)) == (
        "completed",
        "whole",
        2,
        None,
        7.0,
    )
    assert run.steps["b"].elapsed(100.0) is None and run.edges == {"a": [], "b": ["a"]}


def test_approval_notes_survive_completion_and_a_failure_keeps_its_partial_text():
    run = fold(
        [
            started(),
            step_started("a"),
            StepAwaitingApproval(run_id="r1", step_id="a", output="draft"),
        ]
    )
    a = run.steps["a"]
    assert (a.status, a.awaiting_output, a.note) == (
        "awaiting_approval",
        "draft",
        "waiting for approval",
    )
    run.apply(StepApprovalDecided(run_id="r1", step_id="a", approved=True, note="fine"))
    run.apply(StepCompleted(run_id="r1", step_id="a", output="draft"))
    assert (a.awaiting_output, a.note, a.text) == (None, "approved: fine", "draft")
    run.apply(step_started("b"))
    run.apply(StepFailed(run_id="r1", step_id="b", error="boom", partial="so far", attempts=1))
    b = run.steps["b"]
    assert (b.status, b.error, b.text, b.note) == ("failed", "boom", "so far", "boom")
    assert run.apply(RunCancelled(run_id="r1", ts=4.0)) is None
    assert (run.status, run.ended_at, run.active) == ("cancelled", 4.0, False)


def test_a_resumed_run_keeps_its_completed_steps_and_first_start():
    run = fold(
        [
            started(ts=1.0),
            step_started("a"),
            StepCompleted(run_id="r1", step_id="a", output="done"),
            step_started("b"),
            RunCancelled(run_id="r1"),
        ]
    )
    a = run.steps["a"]
    run.apply(started(resumed=True, ts=50.0))
    assert run.steps["a"] is a and a.status == "completed"
    assert run.steps["b"].status == "pending" and run.steps["b"].started_at is None
    assert (run.status, run.started_at, run.ended_at, run.resumed) == ("running", 1.0, None, True)


def test_a_step_never_announced_is_added_after_the_known_ones():
    run = RunState("late")
    assert run.target == "late"
    run.apply(TextDelta(run_id="late", step_id="x", text="hi"))
    assert run.step_ids == ["x"] and run.steps["x"].text == "hi" and run.edges == {"x": []}


def test_glyphs_cover_the_statuses_and_never_mean_two_things():
    for table, statuses in (
        (STEP_GLYPHS, STEP_STATUSES),
        (STEP_GLYPHS_ASCII, STEP_STATUSES),
        (RUN_GLYPHS, RUN_STATUSES),
        (RUN_GLYPHS_ASCII, RUN_STATUSES),
    ):
        assert set(table) == set(statuses)
        assert len(set(table.values())) == len(table)
    for steps, runs in ((STEP_GLYPHS, RUN_GLYPHS), (STEP_GLYPHS_ASCII, RUN_GLYPHS_ASCII)):
        meaning = {g: s for s, g in steps.items()}
        for status, glyph in runs.items():
            assert meaning.get(glyph, status) == status, glyph
    assert all(g.isascii() for g in [*STEP_GLYPHS_ASCII.values(), *RUN_GLYPHS_ASCII.values()])
    assert step_glyph("running") == "●" and step_glyph("running", ascii=True) == ">"
    assert run_glyph("running") == "◐" and run_glyph("from-the-future") == "⊘"


class Stream:
    def __init__(self, encoding):
        self.encoding = encoding


def test_ascii_is_wanted_only_where_utf8_cannot_be_written():
    assert not wants_ascii(Stream("UTF-8")) and not wants_ascii(Stream("utf_8"))
    assert wants_ascii(Stream("ascii")) and wants_ascii(Stream("ANSI_X3.4-1968"))
    assert not wants_ascii(None)


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        (None, ""),
        (950, "950"),
        (1234, "1.2k"),
        (12_345, "12.3k"),
        (345_678, "345k"),
        (2_500_000, "2.50M"),
    ],
)
def test_tokens_are_short(tokens, text):
    assert format_tokens(tokens) == text
    assert format_tokens(tokens, " tok") == (text + " tok" if text else "")


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, ""), (-1, "0.0s"), (4.25, "4.2s"), (185, "3m05s"), (3720, "1h02m")]
)
def test_durations_are_short(seconds, text):
    assert format_duration(seconds) == text


def test_tool_calls_are_folded_in_order_with_their_ask_decision_and_end():
    from paracle_engine.events import (
        ToolCallFinished,
        ToolCallStarted,
        ToolDecided,
        ToolDecisionNeeded,
    )

    run = RunState("r")
    s = {"run_id": "r", "step_id": "a"}
    run.apply(StepStarted(**s, agent="x", provider="p", model="m"))
    run.apply(TextDelta(**s, text="Let me look."))
    run.apply(ToolCallStarted(**s, call_id="c1", name="read_file", summary="notes.txt"))
    step = run.steps["a"]
    assert (step.in_tool, step.asking) == ("read_file", None)
    assert step.tools[0].at == len("Let me look.")
    before = step.tool_changes
    run.apply(
        ToolCallFinished(
            **s, call_id="c1", name="read_file", status="ok", result="hi", duration=0.1
        )
    )
    run.apply(ToolCallStarted(**s, call_id="c2", name="write_file", summary="out.txt"))
    run.apply(ToolDecisionNeeded(**s, call_id="c2", name="write_file", preview="+hello"))
    assert (step.in_tool, step.asking) == (None, "write_file")
    assert run.apply(ToolDecided(**s, call_id="c2", name="write_file", decision="deny")) is step
    run.apply(ToolCallFinished(**s, call_id="c2", name="write_file", status="denied"))
    assert step.tool_changes == before + 5
    first, second = step.tools
    assert (first.status, first.result, first.duration) == ("ok", "hi", 0.1)
    assert (second.status, second.decision, second.preview) == ("denied", "deny", "+hello")
    assert (step.in_tool, step.asking) == (None, None)


def test_a_tool_call_the_step_ended_under_is_cancelled_and_a_retry_forgets_the_calls():
    from paracle_engine.events import ToolCallStarted, ToolDecisionNeeded

    run = RunState("r")
    s = {"run_id": "r", "step_id": "a"}
    run.apply(StepStarted(**s, agent="x", provider="p", model="m"))
    run.apply(ToolCallStarted(**s, call_id="c1", name="run_command", summary="ls"))
    run.apply(ToolDecisionNeeded(**s, call_id="c2", name="write_file"))  # start never seen
    step = run.steps["a"]
    assert [c.call_id for c in step.tools] == ["c1", "c2"]
    run.apply(StepFailed(**s, error="boom"))
    assert [c.status for c in step.tools] == ["cancelled", "cancelled"]
    assert (step.in_tool, step.asking) == (None, None)
    run.apply(StepStarted(**s, agent="x", provider="p", model="m", attempt=2))
    assert step.tools == []
