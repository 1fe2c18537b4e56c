"""The ready-queue scheduler, driven by a scripted stand-in for the executor."""

from __future__ import annotations

import asyncio
import random

import pytest
from support.workflows import Call, ScriptedExecutor, answer_with, make_agents, make_spec

from paracle_engine.errors import BadInputError, ProviderError, ValidationError
from paracle_engine.events import (
    EventBus,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    StepApprovalDecided,
    StepAwaitingApproval,
    StepCancelled,
    StepCompleted,
    StepFailed,
    StepPending,
    StepRetrying,
    StepSkipped,
)
from paracle_engine.models import RunStatus, StepResult, StepStatus
from paracle_engine.workflow import Decision, WorkflowRunner

AGENTS = make_agents("worker", "reviewer")


def runner(spec, executor, **kw):
    bus = kw.pop("bus", None) or EventBus()
    kw.setdefault("retry_delay", 0)
    return WorkflowRunner(spec, agents=AGENTS, executor=executor, bus=bus, **kw)


def recorder(bus: EventBus) -> list:
    events: list = []
    bus.subscribe(events.append)
    return events


async def run(spec, executor=None, **kw):
    executor = executor or ScriptedExecutor()
    return await asyncio.wait_for(runner(spec, executor, **kw).run(), timeout=10)


# --------------------------------------------------------------------------- scheduling


async def test_a_fast_branchs_dependant_starts_before_an_unrelated_slow_step_ends():
    slow_may_end = asyncio.Event()

    async def slow(call: Call) -> str:
        await slow_may_end.wait()
        return "slow done"

    async def fast_child(call: Call) -> str:
        # Level-by-level scheduling would never get here while `slow` runs: the run would hang.
        slow_may_end.set()
        return "child done"

    ex = ScriptedExecutor(scripts={"slow": slow, "fast_child": fast_child})
    spec = make_spec(
        [
            {"id": "slow"},
            {"id": "fast"},
            {"id": "fast_child", "depends_on": ["fast"]},
            {"id": "join", "depends_on": ["slow", "fast_child"]},
        ]
    )
    result = await run(spec, ex)
    assert result.status == RunStatus.COMPLETED
    assert ex.index("start", "fast_child") < ex.index("end", "slow")
    assert ex.index("start", "join") > ex.index("end", "slow")
    steps = result.steps
    assert steps["fast_child"].started_at < steps["slow"].ended_at


async def test_max_concurrency_bounds_running_steps():
    async def busy(call: Call) -> str:
        for _ in range(5):
            await asyncio.sleep(0)
        return "ok"

    spec = make_spec([{"id": f"s{i}"} for i in range(12)])
    ex = ScriptedExecutor(scripts={f"s{i}": busy for i in range(12)})
    result = await run(spec, ex, max_concurrency=3)
    assert result.status == RunStatus.COMPLETED
    assert ex.max_active == 3

    ex = ScriptedExecutor(scripts={f"s{i}": busy for i in range(12)})
    spec = make_spec(
        [{"id": f"s{i}"} for i in range(12)],
        settings={"parallel_execution": {"enabled": True, "max_concurrent": 5}},
    )
    await run(spec, ex)
    assert ex.max_active == 5

    ex = ScriptedExecutor(scripts={f"s{i}": busy for i in range(12)})
    spec = make_spec(
        [{"id": f"s{i}"} for i in range(12)],
        settings={"parallel_execution": {"enabled": False, "max_concurrent": 5}},
    )
    await run(spec, ex)
    assert ex.max_active == 1


async def test_bad_max_concurrency_is_refused():
    with pytest.raises(BadInputError, match="max concurrency"):
        runner(make_spec([{"id": "a"}]), ScriptedExecutor(), max_concurrency=0)


async def test_ten_thousand_step_chain_in_shuffled_order_runs():
    n = 10_000
    steps = [{"id": f"s{i}", "depends_on": [f"s{i - 1}"] if i else []} for i in range(n)]
    random.Random(7).shuffle(steps)
    ex = ScriptedExecutor()
    result = await run(make_spec(steps), ex)
    assert result.status == RunStatus.COMPLETED
    assert [c.step_id for c in ex.calls] == [f"s{i}" for i in range(n)]


async def test_events_cover_the_run_from_start_to_end():
    bus = EventBus()
    events = recorder(bus)
    spec = make_spec([{"id": "a"}, {"id": "b", "depends_on": ["a"]}])
    result = await run(spec, bus=bus, run_id="r1")
    assert isinstance(events[0], RunStarted)
    assert events[0].kind == "workflow" and events[0].step_ids == ["a", "b"]
    assert events[0].edges == {"a": [], "b": ["a"]} and events[0].resumed is False
    assert [type(e) for e in events[1:3]] == [StepPending, StepPending]
    done = [e for e in events if isinstance(e, StepCompleted)]
    assert [e.step_id for e in done] == ["a", "b"]
    assert done[0].usage.total == 15 and done[0].attempts == 1
    assert isinstance(events[-1], RunCompleted) and events[-1].run_id == "r1"
    assert result.run_id == "r1" and result.usage.total == 30
    for sid in ("a", "b"):
        res = result.steps[sid]
        assert res.started_at <= res.ended_at and res.attempts == 1


# --------------------------------------------------------------------------- inputs, prompts


async def test_inputs_defaulted_required_and_checked_before_anything_runs():
    spec = make_spec(
        [{"id": "a", "prompt": "{{ inputs.files }} at {{ inputs.depth }}"}],
        inputs={
            "files": {"type": "array", "required": True},
            "depth": {
                "type": "string",
                "enum": ["quick", "standard"],
                "default": "standard",
                "has_default": True,
            },
        },
    )
    bus = EventBus()
    events = recorder(bus)
    with pytest.raises(BadInputError, match="needs input files"):
        await run(spec, bus=bus)
    with pytest.raises(BadInputError, match="not one of"):
        await run(spec, bus=bus, inputs={"files": ["a.py"], "depth": "deep"})
    with pytest.raises(BadInputError, match="should be array"):
        await run(spec, bus=bus, inputs={"files": "a.py"})
    with pytest.raises(BadInputError, match="has no input 'nope'"):
        await run(spec, bus=bus, inputs={"files": [], "nope": 1})
    assert events == []
    ex = ScriptedExecutor()
    result = await run(spec, ex, inputs={"files": ["a.py", "b.py"]})
    assert result.status == RunStatus.COMPLETED
    assert ex.prompts("a") == ['["a.py", "b.py"] at standard']


async def test_an_invalid_workflow_is_refused_before_anything_runs():
    spec = make_spec([{"id": "a", "agent": "ghost"}])
    with pytest.raises(ValidationError, match="unknown agent 'ghost'"):
        await run(spec)


async def test_prompt_made_from_name_description_and_inputs_asks_for_outputs():
    spec = make_spec(
        [
            {"id": "a", "outputs": ["plan"]},
            {
                "id": "b",
                "name": "write_code",
                "description": "Implement the plan.",
                "depends_on": ["a"],
                "inputs": {"plan": "{{ steps.a.outputs.plan }}", "path": "src/"},
                "outputs": ["files", "summary"],
            },
        ]
    )
    ex = ScriptedExecutor()
    result = await run(spec, ex)
    prompt = ex.prompts("b")[0]
    assert prompt.startswith("Task: write code\n\nImplement the plan.\n\nInputs:\n")
    assert "- plan: a.plan\n- path: src/" in prompt
    assert "one JSON object holding these keys: files, summary" in prompt
    assert ex.calls[1].output_keys == ["files", "summary"]
    assert result.steps["b"].outputs == {"files": "b.files", "summary": "b.summary"}


async def test_outputs_are_parsed_from_the_last_json_object():
    answers = {
        "fenced": 'Here.\n```json\n{"k": 1}\n```\nthen\n```json\n{"k": 2, "x": [1]}\n```',
        "bare": 'Result {"k": {"inner": 1}} and finally {"k": "last", "n": {"m": 2}}',
    }

    def say(text):
        async def script(call: Call) -> str:
            return text

        return script

    spec = make_spec([{"id": "fenced", "outputs": ["k"]}, {"id": "bare", "outputs": ["k"]}])
    ex = ScriptedExecutor(scripts={k: say(v) for k, v in answers.items()})
    result = await run(spec, ex)
    assert result.steps["fenced"].outputs == {"k": 2, "x": [1]}
    assert result.steps["bare"].outputs == {"k": "last", "n": {"m": 2}}
    assert result.steps["bare"].output == answers["bare"]


async def test_a_missing_declared_output_is_an_error_of_the_step_and_is_retried():
    async def forgetful(call: Call) -> str:
        return answer_with({"a": 1} if call.attempt == 1 else {"a": 1, "b": 2})

    bus = EventBus()
    events = recorder(bus)
    spec = make_spec([{"id": "s", "outputs": ["a", "b"], "retry": {"max_attempts": 2}}])
    result = await run(spec, ScriptedExecutor(scripts={"s": forgetful}), bus=bus)
    assert result.status == RunStatus.COMPLETED
    assert result.steps["s"].attempts == 2 and result.steps["s"].outputs == {"a": 1, "b": 2}
    retry = next(e for e in events if isinstance(e, StepRetrying))
    assert "lacks declared output(s) b" in retry.error

    spec = make_spec([{"id": "s", "outputs": ["a", "b"]}])
    result = await run(spec, ScriptedExecutor(scripts={"s": forgetful}))
    assert result.status == RunStatus.FAILED
    assert "lacks declared output(s) b" in result.steps["s"].error


async def test_a_step_skipped_by_its_condition_counts_as_done_and_renders_empty():
    spec = make_spec(
        [
            {"id": "a", "outputs": ["k"]},
            {
                "id": "b",
                "depends_on": ["a"],
                "condition": "{{ inputs.skip == false }}",
                "outputs": ["k"],
            },
            {
                "id": "c",
                "depends_on": ["b"],
                "prompt": "a=[{{ steps.a.outputs.k }}] b=[{{ steps.b.outputs.k }}][{{ steps.b.output }}]",
            },
        ],
        inputs={"skip": {"type": "boolean", "default": False, "has_default": True}},
        outputs={"from_b": {"source": "steps.b.outputs.k"}, "from_a": {"value": "{{ steps.a.k }}"}},
    )
    bus = EventBus()
    events = recorder(bus)
    ex = ScriptedExecutor()
    result = await run(spec, ex, bus=bus, inputs={"skip": True})
    assert result.status == RunStatus.COMPLETED
    assert result.steps["b"].status == StepStatus.SKIPPED
    assert "condition is false" in result.steps["b"].reason
    assert ex.prompts("c") == ["a=[a.k] b=[][]"]
    assert result.outputs == {"from_b": "", "from_a": "a.k"}
    assert any(isinstance(e, StepSkipped) and e.step_id == "b" for e in events)

    result = await run(spec, ScriptedExecutor(), inputs={"skip": "false"})
    assert result.steps["b"].status == StepStatus.COMPLETED
    assert result.outputs == {"from_b": "b.k", "from_a": "a.k"}


async def test_all_steps_renders_the_finished_ancestors():
    spec = make_spec(
        [
            {"id": "a", "outputs": ["k"]},
            {"id": "b"},
            {"id": "other"},
            {"id": "c", "depends_on": ["a", "b"], "prompt": "{{ steps }}"},
        ]
    )
    ex = ScriptedExecutor()
    await run(spec, ex)
    prompt = ex.prompts("c")[0]
    assert "## a\n- k: a.k" in prompt and "## b\nb done." in prompt
    assert "other" not in prompt


# --------------------------------------------------------------------------- failures


def failing(message="boom", *, times=None):
    async def script(call: Call) -> str:
        if times is None or call.attempt <= times:
            call.text.append("partial ")
            raise ProviderError(message, provider="scripted", status=500)
        return answer_with({}, "recovered")

    return script


def hanging(started: asyncio.Event | None = None, partial: str = "half an ans"):
    async def script(call: Call) -> str:
        call.text.append(partial)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
        return "never"

    return script


async def test_fail_fast_cancels_running_steps_and_the_rest():
    b_running = asyncio.Event()

    async def fail_when_b_runs(call: Call) -> str:
        await b_running.wait()
        raise ProviderError("model exploded", provider="scripted", status=500)

    spec = make_spec(
        [
            {"id": "a"},
            {"id": "fails", "depends_on": ["a"]},
            {"id": "b", "depends_on": ["a"]},
            {"id": "after_b", "depends_on": ["b"]},
            {"id": "after_fail", "depends_on": ["fails"]},
        ]
    )
    bus = EventBus()
    events = recorder(bus)
    ex = ScriptedExecutor(scripts={"fails": fail_when_b_runs, "b": hanging(b_running)})
    result = await run(spec, ex, bus=bus)
    assert result.status == RunStatus.FAILED
    assert "step fails failed: model exploded" in result.error
    s = result.steps
    assert (
        s["a"].status == StepStatus.COMPLETED and s["a"].output == "a done.\n\n```json\n{}\n```\n"
    )
    assert s["fails"].status == StepStatus.FAILED
    assert s["b"].status == StepStatus.CANCELLED and s["b"].output == "half an ans"
    assert s["after_b"].status == StepStatus.CANCELLED
    assert s["after_fail"].status == StepStatus.CANCELLED
    cancelled = {e.step_id: e.partial for e in events if isinstance(e, StepCancelled)}
    assert cancelled == {"b": "half an ans", "after_b": "", "after_fail": ""}
    assert isinstance(events[-1], RunFailed)


async def test_continue_lets_independent_branches_finish_and_skips_dependants():
    spec = make_spec(
        [
            {"id": "fails"},
            {"id": "child", "depends_on": ["fails"]},
            {"id": "grandchild", "depends_on": ["child"]},
            {"id": "independent"},
            {"id": "after_independent", "depends_on": ["independent"]},
        ],
        on_failure="continue",
    )
    result = await run(spec, ScriptedExecutor(scripts={"fails": failing()}))
    s = result.steps
    assert result.status == RunStatus.FAILED
    assert s["fails"].status == StepStatus.FAILED and s["fails"].output == "partial "
    assert s["independent"].status == StepStatus.COMPLETED
    assert s["after_independent"].status == StepStatus.COMPLETED
    for sid in ("child", "grandchild"):
        assert s[sid].status == StepStatus.SKIPPED
        assert s[sid].reason == "skipped because step 'fails' failed"


async def test_retries_use_the_step_policy_then_the_workflow_default():
    bus = EventBus()
    events = recorder(bus)
    spec = make_spec([{"id": "s", "retry": {"max_attempts": 3}}])
    result = await run(spec, ScriptedExecutor(scripts={"s": failing(times=2)}), bus=bus)
    assert result.status == RunStatus.COMPLETED and result.steps["s"].attempts == 3
    retries = [(e.attempt, e.max_attempts) for e in events if isinstance(e, StepRetrying)]
    assert retries == [(2, 3), (3, 3)]

    spec = make_spec([{"id": "s"}], settings={"max_retries": 1, "retry_on_failure": True})
    result = await run(spec, ScriptedExecutor(scripts={"s": failing(times=5)}))
    assert result.status == RunStatus.FAILED and result.steps["s"].attempts == 2

    spec = make_spec([{"id": "s"}])
    result = await run(spec, ScriptedExecutor(scripts={"s": failing(times=5)}))
    assert result.steps["s"].attempts == 1


async def test_a_step_timeout_fails_the_attempt_and_keeps_the_partial_text():
    spec = make_spec([{"id": "s", "timeout": 0.05}])
    result = await run(spec, ScriptedExecutor(scripts={"s": hanging()}))
    res = result.steps["s"]
    assert res.status == StepStatus.FAILED and "timed out after 0.05 s" in res.error
    assert res.output == "half an ans"


async def test_the_workflow_timeout_fails_the_run():
    spec = make_spec([{"id": "s"}, {"id": "t", "depends_on": ["s"]}])
    result = await run(spec, ScriptedExecutor(scripts={"s": hanging()}), timeout=0.05)
    assert result.status == RunStatus.FAILED and "timed out after 0.05 s" in result.error
    assert result.steps["s"].status == StepStatus.CANCELLED
    assert result.steps["s"].output == "half an ans"
    assert result.steps["t"].status == StepStatus.CANCELLED


async def test_cancelling_the_run_cancels_every_step_and_keeps_partial_text():
    started = asyncio.Event()
    bus = EventBus()
    events = recorder(bus)
    spec = make_spec([{"id": "a"}, {"id": "b"}, {"id": "c", "depends_on": ["a", "b"]}])
    ex = ScriptedExecutor(scripts={"a": hanging(started, "partial a")})
    wr = runner(spec, ex, bus=bus)
    task = asyncio.create_task(wr.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wr.results["a"].status == StepStatus.CANCELLED
    assert wr.results["a"].output == "partial a"
    assert wr.results["b"].status == StepStatus.COMPLETED
    assert wr.results["c"].status == StepStatus.CANCELLED
    assert isinstance(events[-1], RunCancelled)
    cancelled = {e.step_id: e.partial for e in events if isinstance(e, StepCancelled)}
    assert cancelled == {"a": "partial a", "c": ""}
    assert ex.active == 0


# --------------------------------------------------------------------------- approvals


async def test_approvals_approve_reject_or_fail_without_an_approver():
    spec = make_spec(
        [
            {"id": "draft", "requires_approval": True},
            {"id": "publish", "depends_on": ["draft"]},
            {"id": "check", "validation": {"must_approve": True}},
        ],
    )
    asked: list[tuple[str, str]] = []

    async def approve(step_id: str, output: str) -> Decision:
        asked.append((step_id, output))
        return Decision(True, "fine")

    bus = EventBus()
    events = recorder(bus)
    ex = ScriptedExecutor()
    result = await run(spec, ex, bus=bus, approver=approve)
    assert result.status == RunStatus.COMPLETED
    assert sorted(s for s, _ in asked) == ["check", "draft"]
    assert ex.index("start", "publish") > ex.index("end", "draft")
    awaiting = [e for e in events if isinstance(e, StepAwaitingApproval)]
    assert {e.step_id for e in awaiting} == {"draft", "check"}
    decided = [e for e in events if isinstance(e, StepApprovalDecided)]
    assert all(e.approved and e.note == "fine" for e in decided)

    async def reject(step_id: str, output: str) -> Decision:
        return Decision(False, "too vague")

    result = await run(spec, ScriptedExecutor(), approver=reject)
    assert result.status == RunStatus.FAILED
    draft = result.steps["draft"]
    assert draft.status == StepStatus.FAILED and draft.error == "rejected by reviewer: too vague"
    assert draft.output.startswith("draft done.")
    assert result.steps["publish"].status == StepStatus.CANCELLED

    bus = EventBus()
    events = recorder(bus)
    result = await run(spec, ScriptedExecutor(), bus=bus)
    assert result.status == RunStatus.FAILED
    failed = [e for e in events if isinstance(e, StepFailed)]
    assert failed[0].error.endswith("needs approval: run with --approve-all or on a terminal")


# --------------------------------------------------------------------------- resume


async def test_resume_skips_completed_steps_and_feeds_their_outputs():
    spec = make_spec(
        [
            {"id": "a", "outputs": ["k"]},
            {"id": "b", "depends_on": ["a"], "prompt": "use {{ steps.a.outputs.k }}"},
        ]
    )
    prior = {
        "a": StepResult("a", StepStatus.COMPLETED, output="old", outputs={"k": "kept"}, attempts=1)
    }
    bus = EventBus()
    events = recorder(bus)
    ex = ScriptedExecutor()
    result = await run(spec, ex, bus=bus, prior=prior, run_id="r-old")
    assert result.status == RunStatus.COMPLETED and result.run_id == "r-old"
    assert [c.step_id for c in ex.calls] == ["b"] and ex.prompts("b") == ["use kept"]
    assert events[0].resumed is True
    assert [e.step_id for e in events if isinstance(e, StepPending)] == ["b"]


async def test_a_step_waiting_for_approval_holds_no_concurrency_slot():
    other_done = asyncio.Event()

    async def other(call: Call) -> str:
        other_done.set()
        return "other done"

    async def approve_after_other(step_id: str, output: str) -> Decision:
        # With the slot held, `other` could never start under max_concurrency=1: a hang.
        await other_done.wait()
        return Decision(True)

    spec = make_spec([{"id": "draft", "requires_approval": True}, {"id": "other"}])
    ex = ScriptedExecutor(scripts={"other": other})
    result = await run(spec, ex, max_concurrency=1, approver=approve_after_other)
    assert result.status == RunStatus.COMPLETED
    assert ex.max_active == 1
    assert result.steps["other"].ended_at <= result.steps["draft"].ended_at
