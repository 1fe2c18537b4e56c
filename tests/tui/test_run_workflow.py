"""Running a workflow: the form built from its inputs, approvals, cancel and retry."""

from __future__ import annotations

from pathlib import Path

from harness import (
    booted,
    deck_caught_up,
    highlight,
    hold_streams,
    make_app,
    make_engine,
    type_text,
    wait_for,
)
from textual.widgets import Input, Select, Switch

from paracle_tui.screens.approval import ApprovalModal
from paracle_tui.screens.run_workflow import RunWorkflowForm
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.response_pane import ResponsePane


def error_text(app) -> str:
    return str(app.screen.query_one("#run-workflow-error").render())


async def test_the_form_has_a_field_per_input_and_checks_them_before_running(
    workspace: Path,
) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await highlight(pilot, "workflow:review")
        await pilot.press("r")
        form = app.screen
        assert isinstance(form, RunWorkflowForm)
        # enum -> a choice holding the default, boolean -> a switch, others -> text.
        assert form.query_one("#input-depth", Select).value == "quick"
        assert form.query_one("#input-strict", Switch).value is False
        assert isinstance(form.query_one("#input-files"), Input)
        # The required topic is missing.
        await pilot.press("ctrl+s")
        assert "Fill in topic (required)" in error_text(app)
        assert app.focused is form.query_one("#input-topic")
        await type_text(pilot, "sea otters")
        # An array is written as JSON; a broken one is named.
        form.query_one("#input-files", Input).value = '["a.md", '
        await pilot.press("ctrl+s")
        assert "files: not valid JSON" in error_text(app)
        form.query_one("#input-files", Input).value = '["a.md", "b.md"]'
        form.query_one("#input-depth", Select).value = "deep"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "run-0001" in app.session.runs, "the workflow to start")
        run = app.session.runs["run-0001"]
        assert run.inputs["topic"] == "sea otters"
        assert run.inputs["files"] == ["a.md", "b.md"]
        assert run.inputs["depth"] == "deep"
        assert run.step_ids == ["draft", "check"]


async def start_review(pilot, app) -> None:
    await highlight(pilot, "workflow:review")
    await pilot.press("r")
    await type_text(pilot, "otters")
    await pilot.press("ctrl+s")


async def test_approving_a_step_with_a_note_finishes_the_run(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await start_review(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval dialog")
        modal = app.screen
        assert modal.step_id == "check"
        # The dialog shows the step's own answer.
        assert "otters" in modal.output
        assert modal.output == app.session.runs["run-0001"].steps["check"].awaiting_output
        await pilot.press("shift+tab")
        assert app.focused is modal.query_one("#approval-note")
        await type_text(pilot, "looks right")
        await pilot.press("enter", "y")
        run = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: run.status == "completed", "the run to complete")
        assert run.steps["check"].note == "approved: looks right"
        assert not isinstance(app.screen, ApprovalModal)


async def test_rejecting_fails_the_step_and_retry_resumes_the_run(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await start_review(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval dialog")
        await pilot.press("n")
        run = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: run.status == "failed", "the run to fail")
        assert run.steps["check"].status == "failed"
        assert "rejected" in (run.error or "")
        assert run.steps["draft"].status == "completed"
        # R runs it again from where it stopped: same run, the draft is kept.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the dialog again")
        resumed = app.session.runs["run-0001"]
        assert resumed.steps["draft"].status == "completed"
        await pilot.press("y")
        await wait_for(pilot, lambda: resumed.status == "completed", "the resumed run")


async def test_a_dialog_put_off_comes_back_with_a(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await start_review(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval dialog")
        await pilot.press("escape")
        run = app.session.runs["run-0001"]
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalModal)
        assert run.active
        await wait_for(pilot, lambda: run.steps["check"].status == "awaiting_approval", "waiting")
        await pilot.press("a")
        assert isinstance(app.screen, ApprovalModal)
        await pilot.press("y")
        await wait_for(pilot, lambda: run.status == "completed", "the run to complete")


async def test_escape_cancels_the_selected_run_and_X_cancels_all(workspace: Path) -> None:
    engine = make_engine(workspace)
    held = hold_streams(engine)  # both runs stream one chunk, then wait: nothing races the keys
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        app.start_agent("helper", "a long task")
        app.start_agent("reviewer", "another long task")
        await wait_for(pilot, lambda: len(held.streams) == 2, "both runs to stream")
        await wait_for(pilot, lambda: len(app.session.running()) == 2, "two runs shown")
        # The newest run takes the stage.
        await wait_for(pilot, lambda: app.main.selected_run.run_id == "run-0002", "run-0002 shown")
        selected = app.main.selected_run
        await wait_for(pilot, lambda: selected.steps["reviewer"].status == "running", "streaming")
        app.main.query_one("#library-list").focus()
        await pilot.press("escape")
        await wait_for(pilot, lambda: selected.status == "cancelled", "the selected run to stop")
        assert app.session.runs["run-0001"].active
        assert selected.steps["reviewer"].status == "cancelled"
        await pilot.press("X")
        first = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: first.status == "cancelled", "every run to stop")
        assert app.engine.running() == []


async def test_parallel_steps_get_their_own_panes_and_brackets_choose_the_large_one() -> None:
    engine = make_engine(None)
    held = hold_streams(engine)
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        app.start_workflow("research_report", {})
        run_id = "run-0001"
        await wait_for(pilot, lambda: len(held.streams) == 1, "the plan step to stream")
        held.release(0)  # the plan ends; the three steps after it start and are held
        await wait_for(pilot, lambda: len(held.streams) == 4, "the three parallel steps")
        run = app.session.runs[run_id]
        live = {"background", "evidence", "risks"}
        await wait_for(
            pilot,
            lambda: all(run.steps[s].length for s in live),
            "the parallel steps' first chunks",
        )
        await deck_caught_up(pilot, run_id)
        deck = app.main.query_one(PaneDeck)
        shown = {p.step_id for p in deck.query(ResponsePane) if p.display}
        assert live <= shown
        chosen = deck.large_step
        await pilot.press("right_square_bracket")
        assert deck.large_step != chosen
        await pilot.press("left_square_bracket")
        assert deck.large_step == chosen
        app.engine.cancel(run_id)
        await wait_for(pilot, lambda: run.status == "cancelled", "the cancel")
