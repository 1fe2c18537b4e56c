"""Running an agent from the keyboard: highlight it, `r`, write a task over lines, `ctrl+s`."""

from __future__ import annotations

from pathlib import Path

from harness import (
    booted,
    deck_caught_up,
    highlight,
    make_app,
    make_engine,
    type_text,
    wait_for,
)
from textual.widgets import Select, TextArea

from paracle_tui.screens.run_agent import RunAgentForm
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.run_list import RunList


async def test_an_agent_runs_with_a_multi_line_task_and_streams_into_its_pane(
    workspace: Path,
) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await highlight(pilot, "agent:reviewer")
        await pilot.press("r")
        assert isinstance(app.screen, RunAgentForm)
        # The agent names anthropic; this session's calls go to the simulated provider.
        shown = app.screen.query_one(Select).query_one("SelectCurrent #label").render()
        assert str(shown) == "reviewer  (simulated · claude-sonnet-4.5)"
        # Enter makes a new line in the task; it does not run it.
        await pilot.press("f", "enter", "g")
        await type_text(pilot, " about otters")
        assert app.screen.query_one("#task", TextArea).text == "f\ng about otters"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "run-0001" in app.session.runs, "the run to start")
        run = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: run.status == "completed", "the run to complete")
        assert (run.kind, run.target, run.task) == ("agent", "reviewer", "f\ng about otters")
        deck = app.main.query_one(PaneDeck)
        await deck_caught_up(pilot, "run-0001")
        assert deck.large_step == "reviewer"
        pane = deck.large_pane
        assert pane is not None
        await pane.rendered()
        # The simulated answer quotes the task; the pane holds the whole answer.
        assert "otters" in pane.text
        assert pane.text == run.steps["reviewer"].text
        runs = app.main.query_one(RunList)
        assert runs.highlighted_run == "run-0001"
        assert app.session.usage[("simulated", "claude-sonnet-4.5")].total > 0


async def test_an_empty_task_is_refused_in_the_form(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await highlight(pilot, "agent:helper")
        await pilot.press("r", "ctrl+s")
        assert isinstance(app.screen, RunAgentForm)
        assert "Write a task first" in str(app.screen.query_one("#run-agent-error").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, RunAgentForm)
        assert app.session.runs == {}


async def test_enter_on_a_library_item_opens_its_form(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await highlight(pilot, "agent:helper")
        await pilot.press("enter")
        assert isinstance(app.screen, RunAgentForm)
        assert app.screen.agent_id == "helper"
