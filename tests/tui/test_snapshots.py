"""Snapshots of the screens a person sees most, driven by scripted events with fixed times.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at every SVG.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import (
    T0,
    all_drawn,
    booted,
    deck_caught_up,
    freeze_cursors,
    highlight,
    make_app,
    make_engine,
    script_research_run,
    type_text,
    wait_for,
)
from textual.pilot import Pilot

from paracle_engine import events as ev
from paracle_engine.models import Usage
from paracle_engine.secrets import SERVICE
from paracle_tui.screens.approval import ApprovalModal
from paracle_tui.screens.help import HelpScreen
from paracle_tui.screens.onboarding import OnboardingModal
from paracle_tui.screens.run_agent import RunAgentForm
from paracle_tui.screens.run_detail import RunDetailScreen
from paracle_tui.screens.run_workflow import RunWorkflowForm
from paracle_tui.widgets.dag_view import DagView

NOW = T0 + 6.0
RUN_ID = "20260105-093000-5e1f2a"


def frozen_app(workspace: Path | None = None):
    """The app with its clock (and so the DAG's and the status line's) standing at NOW."""
    return make_app(make_engine(workspace), clock=lambda: NOW)


async def settle(pilot: Pilot) -> None:
    """Every visible answer drawn, spinners held, no blinking cursor, layout done."""
    app = pilot.app
    await all_drawn(pilot)
    for dag in app.main.query(DagView):
        dag.spin = False
    freeze_cursors(app)
    await pilot.pause()


async def scripted(pilot: Pilot, *, finished: bool) -> None:
    app = await booted(pilot)
    script_research_run(app.engine.bus, RUN_ID, finished=finished)
    want = "completed" if finished else "running"
    await wait_for(
        pilot,
        lambda: RUN_ID in app.session.runs and app.session.runs[RUN_ID].status == want,
        "the scripted run",
    )
    await deck_caught_up(pilot, RUN_ID)
    await settle(pilot)


def test_main_idle(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await booted(pilot)
        await pilot.press("down", "down", "down", "down", "down")
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_workflow_mid_run(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await scripted(pilot, finished=False)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_workflow_finished(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await scripted(pilot, finished=True)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_main_at_80x24(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        await scripted(pilot, finished=False)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=run_before)


REVIEW_DRAFT = (
    "## Draft\n\nSea otters hold hands while they sleep so they do not drift apart, and "
    "they keep a favourite stone in a pouch of loose skin under each forearm.\n"
)
REVIEW_CHECK = (
    "## Review\n\nThe draft is accurate on both points.\n\n"
    "- *Holding hands*: observed in rafts of resting otters; keep it.\n"
    "- *Stone pouch*: correct, though the pouch is under the **left** forearm more often.\n\n"
    "Verdict: **ready to publish** after that one correction.\n"
)


def script_review(bus: ev.EventBus) -> None:
    bus.publish(
        ev.RunStarted(
            run_id=RUN_ID,
            ts=T0,
            kind="workflow",
            target="review",
            inputs={"topic": "otters"},
            provider="simulated",
            model="claude-sonnet-4.5",
            step_ids=["draft", "check"],
            edges={"draft": [], "check": ["draft"]},
        )
    )
    for step, agent, text, start, end in (
        ("draft", "helper", REVIEW_DRAFT, T0, T0 + 2.1),
        ("check", "reviewer", REVIEW_CHECK, T0 + 2.2, T0 + 4.0),
    ):
        bus.publish(
            ev.StepStarted(
                run_id=RUN_ID,
                step_id=step,
                ts=start,
                agent=agent,
                provider="simulated",
                model="claude-sonnet-4.5",
            )
        )
        bus.publish(ev.TextDelta(run_id=RUN_ID, step_id=step, ts=end, text=text))
        bus.publish(
            ev.UsageReported(
                run_id=RUN_ID,
                step_id=step,
                ts=end,
                usage=Usage(120, 80),
                provider="simulated",
                model="claude-sonnet-4.5",
            )
        )
    bus.publish(ev.StepCompleted(run_id=RUN_ID, step_id="draft", ts=T0 + 2.1, output=REVIEW_DRAFT))
    bus.publish(
        ev.StepAwaitingApproval(run_id=RUN_ID, step_id="check", ts=T0 + 4.0, output=REVIEW_CHECK)
    )


def test_approval_modal(snap_compare, workspace: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        script_review(app.engine.bus)
        await wait_for(
            pilot,
            lambda: (
                RUN_ID in app.session.runs
                and app.session.runs[RUN_ID].steps["check"].status == "awaiting_approval"
            ),
            "the waiting step",
        )
        await deck_caught_up(pilot, RUN_ID)
        await settle(pilot)
        modal = ApprovalModal(run_label="Workflow review", step_id="check", output=REVIEW_CHECK)
        app.push_screen(modal)
        await wait_for(pilot, lambda: app.screen is modal and modal.is_mounted, "the dialog")
        # The dialog scrolls its answer home once drawn, in a worker of its own.
        await wait_for(
            pilot,
            lambda: all(w.is_finished for w in app.workers if w.node is modal),
            "the dialog to show its answer from the top",
        )
        await settle(pilot)

    assert snap_compare(frozen_app(workspace), terminal_size=(120, 40), run_before=run_before)


def script_agent_run(
    bus: ev.EventBus, run_id: str, agent: str, task: str, answer: str, ts: float
) -> None:
    bus.publish(
        ev.RunStarted(
            run_id=run_id,
            ts=ts,
            kind="agent",
            target=agent,
            task=task,
            provider="simulated",
            model="claude-sonnet-4.5",
            step_ids=[agent],
            edges={agent: []},
        )
    )
    bus.publish(
        ev.StepStarted(
            run_id=run_id,
            step_id=agent,
            ts=ts,
            agent=agent,
            provider="simulated",
            model="claude-sonnet-4.5",
            prompt=task,
        )
    )
    bus.publish(ev.TextDelta(run_id=run_id, step_id=agent, ts=ts + 1, text=answer))
    usage = Usage(len(task) // 4 + 40, len(answer) // 4)
    bus.publish(
        ev.UsageReported(
            run_id=run_id,
            step_id=agent,
            ts=ts + 2,
            usage=usage,
            provider="simulated",
            model="claude-sonnet-4.5",
        )
    )
    bus.publish(
        ev.StepCompleted(run_id=run_id, step_id=agent, ts=ts + 2, output=answer, usage=usage)
    )
    bus.publish(ev.RunCompleted(run_id=run_id, ts=ts + 2, output=answer, usage=usage))


HISTORY = [
    (
        "20260105-091200-0a1b2c",
        "researcher",
        "What limits the range of electric ferries?",
        "Battery weight and charging time at each port limit the range of electric ferries.",
    ),
    (
        "20260105-092400-3d4e5f",
        "writer",
        "Explain idempotent retries to a new developer",
        "An idempotent operation gives the same result however many times it runs, so retries are safe.",
    ),
    (
        "20260105-092900-6a7b8c",
        "critic",
        "Review the plan for ferry charging stations",
        "The plan for ferry charging stations assumes grid capacity that the ports may not have.",
    ),
]


def test_history_with_a_search(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        for i, (run_id, agent, task, answer) in enumerate(HISTORY):
            script_agent_run(app.engine.bus, run_id, agent, task, answer, T0 - 1800 + i * 600)

        async def on_file() -> bool:  # the history writer batches
            return await app.runs.count_runs() >= len(HISTORY)

        await wait_for(pilot, on_file, "every scripted run on file")
        await pilot.press("h")
        await pilot.press("slash")
        await type_text(pilot, "charging")
        await pilot.press("enter")
        table = app.screen.query_one("#history-table")
        await wait_for(pilot, lambda: table.row_count == 2, "two matches")
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_keys_screen(snap_compare, memory_keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    memory_keyring.entries[(SERVICE, "anthropic")] = "sk-ant-api03-" + "Q" * 40 + "-a1b2"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "Z" * 40 + "w9x8")

    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await pilot.press("k")
        table = app.screen.query_one("#keys-table")
        await wait_for(pilot, lambda: table.row_count > 0, "the providers")
        await wait_for(
            pilot,
            lambda: "Keyring" in str(app.screen.query_one("#keys-backend").render()),
            "backend",
        )
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


async def workers_done(pilot: Pilot, screen: object, what: str) -> None:
    """A screen that draws or scrolls in workers of its own has finished doing so."""
    app = pilot.app
    await wait_for(pilot, lambda: all(w.is_finished for w in app.workers if w.node is screen), what)


def test_help_screen_lists_the_keys_from_its_first_line(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await workers_done(pilot, app.screen, "the help to be drawn and scrolled home")
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_run_agent_form_names_the_provider_this_session_uses(snap_compare, workspace: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await highlight(pilot, "agent:reviewer")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunAgentForm), "the form")
        await type_text(pilot, "Check the draft about otters")
        await settle(pilot)

    assert snap_compare(frozen_app(workspace), terminal_size=(120, 40), run_before=run_before)


def test_run_workflow_form_has_a_field_per_input(snap_compare, workspace: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await highlight(pilot, "workflow:review")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunWorkflowForm), "the form")
        await settle(pilot)

    assert snap_compare(frozen_app(workspace), terminal_size=(120, 40), run_before=run_before)


def test_run_workflow_form_names_a_missing_required_input(snap_compare, workspace: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await highlight(pilot, "workflow:review")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunWorkflowForm), "the form")
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#run-workflow-error")
        await wait_for(pilot, lambda: "topic" in str(error.render()), "the missing input named")
        await settle(pilot)

    assert snap_compare(frozen_app(workspace), terminal_size=(120, 40), run_before=run_before)


def test_history_with_no_runs_yet(snap_compare) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        await pilot.press("h")
        table = app.screen.query_one("#history-table")
        await workers_done(pilot, app.screen, "the history to be read")
        assert table.row_count == 0
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_run_detail_shows_a_recorded_transcript(snap_compare) -> None:
    run_id, agent, task, answer = HISTORY[0]

    async def run_before(pilot: Pilot) -> None:
        app = await booted(pilot)
        script_agent_run(app.engine.bus, run_id, agent, task, answer, T0)

        async def on_file() -> bool:  # the history writer batches
            return any(r.status == "completed" for r in await app.runs.list_runs())

        await wait_for(pilot, on_file, "the scripted run on file")
        app.open_recorded_run(run_id)
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run")
        detail = app.screen
        await wait_for(pilot, lambda: "ferries" in detail.transcript, "the transcript")
        await workers_done(pilot, detail, "the transcript to be drawn")
        await settle(pilot)

    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=run_before)


def test_onboarding_asks_for_the_key_of_a_provider_without_one(
    snap_compare, workspace: Path
) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, OnboardingModal), "the onboarding")
        await workers_done(pilot, app.screen, "the onboarding to be drawn")
        await settle(pilot)

    app = make_app(make_engine(workspace, provider=None), clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
