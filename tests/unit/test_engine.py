"""The Engine facade through the simulated provider: no network, no keys."""

import asyncio

import pytest

from paracle_engine.config import Settings
from paracle_engine.engine import AgentTask, Engine
from paracle_engine.errors import BadInputError
from paracle_engine.events import (
    RunCancelled,
    RunCompleted,
    RunStarted,
    StepCancelled,
    StepCompleted,
    StepStarted,
    TextDelta,
    UsageReported,
)
from paracle_engine.workspace.loader import load_workspace


@pytest.fixture
def workspace():
    return load_workspace_demo()


def load_workspace_demo():
    from paracle_engine.workspace.loader import demo_workspace_path

    return load_workspace(demo_workspace_path())


def make_engine(workspace, pace=0.0):
    return Engine(workspace, settings=Settings(simulated_pace=pace), provider="simulated")


def first_agent(ws):
    return next(iter(ws.agents))


async def test_execute_agent_publishes_the_whole_run(workspace):
    events = []
    async with make_engine(workspace) as engine:
        engine.bus.subscribe(events.append)
        agent = first_agent(workspace)
        result = await engine.execute_agent(agent, "Summarise the plan in two lines")
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[1] is StepStarted
    assert kinds[-3:] == [UsageReported, StepCompleted, RunCompleted]
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed == result.output and result.output
    assert result.provider == "simulated"
    assert result.usage.output_tokens > 0
    assert {e.run_id for e in events} == {result.run_id}
    started = events[1]
    assert started.prompt == "Summarise the plan in two lines"
    assert started.system_prompt == workspace.agents[agent].system_prompt


async def test_same_task_gives_the_same_answer(workspace):
    async with make_engine(workspace) as engine:
        agent = first_agent(workspace)
        a = await engine.execute_agent(agent, "hi")
        b = await engine.execute_agent(agent, "hi")
    assert a.output == b.output and a.run_id != b.run_id


async def test_stream_yields_text_as_it_arrives(workspace):
    async with make_engine(workspace) as engine:
        agent = first_agent(workspace)
        pieces = [p async for p in engine.stream_agent_response(agent, "hello there")]
        whole = await engine.execute_agent(agent, "hello there")
    assert len(pieces) > 1
    assert "".join(pieces) == whole.output


async def test_unknown_agent_and_empty_task_are_bad_input(workspace):
    async with make_engine(workspace) as engine:
        with pytest.raises(BadInputError, match="unknown agent"):
            await engine.execute_agent("nobody", "hi")
        with pytest.raises(BadInputError, match="empty"):
            await engine.execute_agent(first_agent(workspace), "   ")


async def test_group_keeps_input_order_and_isolates_failures(workspace):
    agents = list(workspace.agents)
    async with make_engine(workspace) as engine:
        results = await engine.run_agent_group(
            [
                AgentTask(agents[0], "one"),
                AgentTask("nobody", "two"),
                AgentTask(agents[1], "three"),
            ],
            max_concurrency=2,
        )
    assert results[0].agent == agents[0]
    assert isinstance(results[1], BadInputError)
    assert results[2].agent == agents[1]


async def test_group_respects_the_concurrency_bound(workspace):
    running = 0
    peak = 0

    def track(event):
        nonlocal running, peak
        if isinstance(event, StepStarted):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, StepCompleted):
            running -= 1

    agent = first_agent(workspace)
    async with make_engine(workspace, pace=0.001) as engine:
        engine.bus.subscribe(track)
        results = await engine.run_agent_group(
            [AgentTask(agent, f"task {i}") for i in range(6)], max_concurrency=2
        )
    assert all(not isinstance(r, BaseException) for r in results)
    assert peak == 2


async def test_cancel_keeps_the_partial_text(workspace):
    events = []
    async with make_engine(workspace, pace=0.01) as engine:
        engine.bus.subscribe(events.append)
        agent = first_agent(workspace)
        task = asyncio.create_task(
            engine.execute_agent(agent, "a long answer please " * 20, run_id="r-cancel")
        )
        for _ in range(500):
            if any(isinstance(e, TextDelta) for e in events):
                break
            await asyncio.sleep(0.01)
        assert engine.cancel("r-cancel")
        with pytest.raises(asyncio.CancelledError):
            await task
    cancelled = [e for e in events if isinstance(e, StepCancelled)]
    assert cancelled and cancelled[0].partial
    assert cancelled[0].partial == "".join(e.text for e in events if isinstance(e, TextDelta))
    assert isinstance(events[-1], RunCancelled)


async def test_saved_agents_inherit_persist_and_are_deletable(workspace, tmp_path, monkeypatch):
    from paracle_engine.models import AgentSpec

    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    parent = next(a for a in workspace.agents.values() if a.skills)
    async with Engine(
        workspace, settings=Settings(simulated_pace=0), provider="simulated", history=True
    ) as engine:
        saved = await engine.save_agent(
            AgentSpec(
                id="my-helper", name="My helper", parent=parent.id, provider="simulated", model="m"
            )
        )
        assert saved.origin == "saved" and saved.lineage[0] == parent.id
        assert set(parent.skills) <= set(saved.skills)
        assert saved.system_prompt == parent.system_prompt
        result = await engine.execute_agent("my-helper", "hello")
        assert result.agent == "my-helper"
        with pytest.raises(BadInputError, match="defined by the workspace"):
            await engine.save_agent(AgentSpec(id=parent.id))
    async with Engine(workspace, settings=Settings(), provider="simulated", history=True) as engine:
        assert engine.agents["my-helper"].origin == "saved"
        assert await engine.delete_agent("my-helper")
        assert "my-helper" not in engine.agents
        with pytest.raises(BadInputError):
            await engine.delete_agent(parent.id)


async def test_start_twice_at_once_opens_one_history(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    engine = Engine(workspace, settings=Settings(), provider="simulated", history=True)
    await asyncio.gather(engine.start(), engine.start())
    history = engine.history
    await engine.start()
    assert engine.history is history
    await engine.aclose()


async def test_use_provider_switches_every_agent(workspace):
    engine = Engine(workspace, settings=Settings(simulated_pace=0))
    agent = engine.agent(first_agent(workspace))
    assert engine.executor.plan(agent)[0] == agent.provider
    engine.use_provider("simulated")
    result = await engine.execute_agent(agent.id, "hi")
    assert result.provider == "simulated"
    with pytest.raises(BadInputError, match="unknown provider"):
        engine.use_provider("nope")
    await engine.aclose()


async def test_the_fronts_ask_the_engine_not_its_parts(workspace):
    engine = Engine(workspace, settings=Settings(simulated_pace=0))
    agent = engine.agent(first_agent(workspace))
    assert engine.forced_provider is None
    assert engine.plan(agent) == (agent.provider, agent.model)
    engine.use_provider("simulated")
    assert engine.forced_provider == "simulated"
    assert engine.plan(agent) == ("simulated", agent.model)
    engine.use_provider(None)
    assert engine.forced_provider is None
    assert list(engine.workflows) == list(workspace.workflows) != []
    name = next(iter(engine.workflows))
    assert engine.load_workflow(name).name == workspace.load_workflow(name).name
    assert list(engine.warnings) == workspace.warnings
    await engine.aclose()
