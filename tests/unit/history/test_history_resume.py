"""A workflow stopped midway resumes from its recorded steps into the same run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from paracle_engine.config import Settings
from paracle_engine.engine import Engine
from paracle_engine.events import Event, StepCompleted, StepStarted
from paracle_engine.models import RunStatus
from paracle_engine.workspace.loader import demo_workspace_path, load_workspace


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARACLE_HOME", str(tmp_path))
    return tmp_path


async def test_a_stopped_workflow_resumes_without_rerunning_its_completed_steps() -> None:
    workspace = load_workspace(demo_workspace_path())
    engine = Engine(
        workspace, settings=Settings(simulated_pace=0.002), provider="simulated", history=True
    )
    async with engine:
        plan_done = asyncio.Event()

        def on_completed(event: Event) -> None:
            if getattr(event, "step_id", None) == "plan":
                plan_done.set()

        engine.bus.subscribe(on_completed, StepCompleted)
        first = asyncio.create_task(engine.run_workflow("research_report", run_id="wf-1"))
        await asyncio.wait_for(plan_done.wait(), 30)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await engine.history.writer.flush()

        runs = engine.history.runs
        state = await runs.load_resume_state("wf-1")
        assert state.status == RunStatus.CANCELLED
        assert "plan" in state.completed and "synthesize" not in state.completed
        plan_output = state.completed["plan"].output
        assert plan_output and state.completed["plan"].outputs

        started: list[str] = []
        engine.bus.subscribe(lambda e: started.append(e.step_id), StepStarted)
        result = await engine.run_workflow(
            state.source or state.workflow, state.inputs, run_id=state.run_id, prior=state.completed
        )
        await engine.history.writer.flush()
        assert result.status == RunStatus.COMPLETED
        assert started and not set(started) & set(state.completed)  # no provider call for them

        detail = await runs.get_run("wf-1")
        assert await runs.count_runs() == 1
        assert (detail.run.status, detail.run.resume_count) == ("completed", 1)
        statuses = {s.step_id: s.status for s in detail.steps}
        assert statuses["plan"] == "completed" and statuses["synthesize"] == "completed"
        assert detail.step("plan").output == plan_output
