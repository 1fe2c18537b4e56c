"""The history screen: recent runs a page at a time, search, open a run, export it."""

from __future__ import annotations

import json
from pathlib import Path

from harness import booted, make_app, make_engine, type_text, wait_for
from textual.widgets import DataTable

from paracle_tui.screens import history as history_screen
from paracle_tui.screens.history import HistoryScreen
from paracle_tui.screens.run_detail import RunDetailScreen


async def run_agents(pilot, app, tasks: list[tuple[str, str]]) -> None:
    for agent, task in tasks:
        app.start_agent(agent, task)
    await wait_for(
        pilot,
        lambda: len(app.session.runs) == len(tasks) and not app.session.running(),
        "the runs to end",
    )

    # The history writer batches; wait until every run is on file.
    async def on_file() -> bool:
        return await app.runs.count_runs() >= len(tasks)

    await wait_for(pilot, on_file, f"{len(tasks)} runs on file")


def rows(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_search_finds_a_run_and_opening_it_shows_transcript_and_dag(
    workspace: Path, tmp_path: Path
) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await run_agents(
            pilot, app, [("helper", "tell me about walruses"), ("reviewer", "check the penguins")]
        )
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "two recorded runs")
        assert [r[3] for r in rows(table)] == ["reviewer", "helper"]  # newest first
        await pilot.press("slash")
        await type_text(pilot, "walruses")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 1, "one match")
        assert rows(table)[0][2] == "helper"
        assert "walruses" in rows(table)[0][4]
        assert app.focused is table
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run")
        detail = app.screen
        await wait_for(pilot, lambda: "walruses" in detail.transcript, "the transcript")
        assert "helper" in str(detail.query_one("#detail-title").render())
        await pilot.press("e")
        exported = tmp_path / "paracle-run-run-0001.md"
        await wait_for(pilot, exported.exists, "the Markdown export")
        assert "walruses" in exported.read_text()
        await pilot.press("j")
        as_json = tmp_path / "paracle-run-run-0001.json"
        await wait_for(pilot, as_json.exists, "the JSON export")
        assert json.loads(as_json.read_text())["target"] == "helper"
        await pilot.press("c")
        assert "walruses" in app.clipboard
        # Escape goes back to the search, escape again clears it, then leaves.
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 2, "the recent runs again")
        await pilot.press("escape")
        assert app.screen is app.main


async def test_history_loads_a_page_at_a_time(workspace: Path, monkeypatch) -> None:
    monkeypatch.setattr(history_screen, "PAGE_SIZE", 2)
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await run_agents(pilot, app, [("helper", f"task number {i}") for i in range(5)])
        await pilot.press("h")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "the first page")
        assert "2 of 5 runs" in str(app.screen.query_one("#history-count").render())
        # Reaching the last row loads the next page.
        await pilot.press("down")
        await wait_for(pilot, lambda: table.row_count == 4, "the second page")
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: table.row_count == 5, "the last page")
        ids = [r[6] for r in rows(table)]
        assert ids == [f"run-000{i}" for i in (5, 4, 3, 2, 1)]


async def test_a_recorded_workflow_shows_its_dag_as_it_ended() -> None:
    from harness import script_research_run

    from paracle_tui.widgets.dag_view import DagView

    app = make_app(make_engine(None))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        script_research_run(app.engine.bus, "run-0042", finished=True)

        # The writer batches: wait until the run is on file as completed.
        async def on_file() -> bool:
            return any(r.status == "completed" for r in await app.runs.list_runs())

        await wait_for(pilot, on_file, "run-0042 on file as completed")
        app.open_recorded_run("run-0042")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailScreen), "the run")
        detail = app.screen
        await wait_for(
            pilot, lambda: "Own hardware or hosted API?" in detail.transcript, "transcript"
        )
        dag = detail.query_one(DagView)
        assert dag.display
        assert {dag.state(s).status for s in ("plan", "background", "evidence", "risks")} == {
            "completed"
        }
        assert (dag.state("synthesize").status, dag.state("synthesize").tokens) == (
            "completed",
            1204,
        )
