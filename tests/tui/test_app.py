"""The app around the screens: fixed keys, help, palette, themes, narrow layout, start and quit."""

from __future__ import annotations

import gc
import tomllib
from pathlib import Path

from harness import (
    booted,
    deck_caught_up,
    hold_streams,
    make_app,
    make_engine,
    type_text,
    wait_for,
)
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Footer

from paracle_engine import paths
from paracle_tui.app import GC_THRESHOLD
from paracle_tui.messages import NewAgentRequested, RunAgentRequested, RunWorkflowRequested
from paracle_tui.screens.help import HelpScreen
from paracle_tui.screens.history import HistoryScreen
from paracle_tui.screens.main import MainScreen
from paracle_tui.screens.palette import ACTIONS
from paracle_tui.screens.run_workflow import RunWorkflowForm
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.response_pane import ResponseBody, ResponsePane


async def test_f1_opens_help_listing_the_fixed_keys_and_escape_closes_it(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        footer_keys = {k for k, b in app.main.active_bindings.items() if b.binding.show}
        assert {"r", "escape", "f1", "h", "k", "q"} <= footer_keys
        assert app.main.query_one(Footer)
        await pilot.press("f1")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        body = help_screen.query_one("#help-text", ResponseBody)
        for key in ("ctrl+p", "f1", "`h`", "`k`", "`r`", "escape", "`q`"):
            assert key in body.text
        # Help is read from its first line, once drawn.
        await wait_for(
            pilot,
            lambda: not any(w.node is help_screen and not w.is_finished for w in app.workers),
            "the help to be drawn and scrolled home",
        )
        assert body.plain_lines()[0].strip() == "Paracle"
        assert body.max_scroll_y > 0 and body.scroll_y == 0
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_every_action_is_in_the_palette(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        # Every binding of the app and the main screen has its palette command.
        bound = {b.id for b in [*app.BINDINGS, *MainScreen.BINDINGS] if isinstance(b, Binding)}
        listed = {binding_id for _, _, binding_id, _ in ACTIONS}
        panes_and_tabs = {"prev_pane", "next_pane", "tab_library", "tab_run"}
        assert bound - {"quit", *panes_and_tabs} <= listed
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await type_text(pilot, "run workflow rev")
        matches = app.screen.query_one(CommandList)
        await wait_for(pilot, lambda: matches.option_count > 0, "the matches", within=5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunWorkflowForm), "the form")
        assert app.screen.spec.name == "review"
        await pilot.press("escape", "ctrl+p")
        await type_text(pilot, "history")
        await wait_for(pilot, lambda: app.screen.query_one(CommandList).option_count > 0, "hits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history")


async def test_a_theme_change_is_remembered_for_the_next_session(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        app.theme = "nord"
        await wait_for(pilot, paths.config_file().exists, "config.toml")
    assert tomllib.loads(paths.config_file().read_text())["theme"] == "nord"

    from paracle_engine.config import load_settings

    engine = make_engine(workspace)
    engine.settings = load_settings()
    again = make_app(engine)
    async with again.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        assert again.theme == "nord"


async def test_a_start_request_runs_at_once_and_quit_closes_the_engine() -> None:
    engine = make_engine(None)
    app = make_app(engine, start=("workflow", "quick_answer", {"question": "Why queues?"}))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await wait_for(pilot, lambda: "run-0001" in app.session.runs, "the run")
        run = app.session.runs["run-0001"]
        assert (run.target, run.inputs["question"]) == ("quick_answer", "Why queues?")
        await wait_for(pilot, lambda: run.status == "completed", "the run to end")
        await pilot.press("q")
    # The app closed the engine: history flushed and shut, nothing left running.
    assert engine.history is None
    assert engine.running() == []


async def test_quitting_mid_run_cancels_it_cleanly(workspace: Path) -> None:
    engine = make_engine(workspace)
    held = hold_streams(engine)  # the answer stops after its first chunk: q comes mid-run
    app = make_app(engine, start=("agent", "helper", "a slow answer"))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        await wait_for(pilot, lambda: held.streams and engine.running(), "the run to stream")
        await pilot.press("q")
    assert engine.running() == [] and engine.history is None


async def test_at_80x24_the_library_and_the_run_are_two_tabs(workspace: Path) -> None:
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        main = app.main
        assert main.narrow and main.tab == "library"
        assert main.query_one("#work").region.width == 0
        await pilot.press("2")
        assert main.tab == "run"
        assert main.query_one("#sidebar").region.width == 0
        await pilot.press("1")
        assert main.tab == "library"
        # Starting a run brings its tab forward.
        app.start_agent("helper", "hello")
        await wait_for(pilot, lambda: main.tab == "run", "the run tab")
        run = app.session.runs["run-0001"]
        await wait_for(pilot, lambda: run.status == "completed", "the run")
        await deck_caught_up(pilot, "run-0001")
        await pilot.press("c")
        assert app.clipboard == run.steps["helper"].text
        deck = main.query_one(PaneDeck)
        assert deck.narrow


async def test_the_engine_can_open_after_the_first_frame(workspace: Path) -> None:
    opened: list[bool] = []

    def open_engine():
        opened.append(True)
        return make_engine(workspace)

    app = make_app(open_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        assert opened == [True]
        assert app.main.highlighted_item == ("agent", "helper")


async def test_a_broken_workspace_ends_the_app_with_one_line(capsys) -> None:
    from paracle_engine.errors import WorkspaceError

    def open_engine():
        raise WorkspaceError("bad indentation", file="manifest.yaml", line=3)

    app = make_app(open_engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.return_code is not None, "the app to end")
    assert app.return_code == 2
    assert "error: manifest.yaml:3: bad indentation" in capsys.readouterr().err


async def test_the_status_line_shows_retries_waits_and_an_open_breaker(workspace: Path) -> None:
    from paracle_engine import events as ev
    from paracle_tui.widgets.status_line import StatusLine

    now = [1000.0]
    app = make_app(make_engine(workspace), clock=lambda: now[0])
    async with app.run_test(size=(160, 40)) as pilot:
        await booted(pilot)
        bus = app.engine.bus
        bus.publish(
            ev.RetryScheduled(
                run_id="r",
                step_id="s",
                provider="anthropic",
                attempt=2,
                max_attempts=4,
                delay=2.0,
                error="overloaded",
            )
        )
        bus.publish(
            ev.RateLimitWaiting(
                run_id="r", step_id="s", provider="anthropic", seconds=20.0, reason="requests"
            )
        )
        bus.publish(ev.CircuitStateChanged(run_id="r", endpoint="api.anthropic.com", state="open"))
        line = app.main.query_one(StatusLine)
        await wait_for(pilot, lambda: "rate limit 20s" in str(line.render()), "the status line")
        text = str(line.render())
        assert "1 retry" in text and "breaker api.anthropic.com open" in text
        # The countdown ends with the wait.
        now[0] += 25
        await wait_for(
            pilot, lambda: "rate limit" not in str(line.render()), "the wait to end", within=3
        )
        assert not app.session.rate_waits


async def test_a_new_theme_redraws_the_status_line_and_details_in_its_colours(
    workspace: Path,
) -> None:
    from paracle_tui.widgets.status_line import StatusLine

    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        line = app.main.query_one(StatusLine)
        before = line.render().spans[0].style
        app.theme = "solarized-light"
        await pilot.pause()
        assert line.render().spans[0].style != before


async def test_the_collector_is_tuned_once_the_app_shows_and_restored_when_it_ends(
    workspace: Path,
) -> None:
    before = gc.get_threshold()
    app = make_app(make_engine(workspace))
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 100_000  # the started app is kept out of full collections
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_quitting_while_a_run_s_panes_are_built_ends_cleanly() -> None:
    from harness import script_research_run

    from paracle_tui.widgets.response_pane import ResponseBody

    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        await booted(pilot)
        script_research_run(app.engine.bus, "run-quit", finished=True)
        # The first pane is up, the others are still being mounted: quit now.
        await wait_for(pilot, lambda: app.main.query(ResponseBody), "the first pane")
        app.exit()
    assert app.return_code == 0


def test_only_global_options_open_the_app_without_loading_the_commands() -> None:
    import subprocess
    import sys

    from paracle_tui.cli import parse_args

    code = (
        "import sys; from paracle_tui.cli import parse_args;"
        "a = parse_args(['--provider', 'simulated', '--debug', '--workspace=ws']);"
        "print(a.provider, a.debug, a.workspace, getattr(a, 'handler', None),"
        " any(m.startswith('paracle_tui.commands') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["simulated", "True", "ws", "None", "False"]
    # A command, or a value that reads like one, goes through the full parser.
    assert parse_args(["agents"]).handler is not None
    args = parse_args(["--workspace", "agents"])
    assert args.workspace == "agents" and getattr(args, "handler", None) is None


async def test_a_pane_in_the_deck_shows_its_scrollbar_only_while_read_back() -> None:
    from harness import script_research_run

    app = make_app(make_engine())
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        script_research_run(app.engine.bus, "run-bars", finished=True)
        deck = app.main.query_one(PaneDeck)
        await wait_for(pilot, lambda: deck.large_step == "synthesize", "the report's pane")
        body = deck.large_pane.body
        await body.rendered()
        assert body.max_scroll_y > 0 and body.following
        assert body.styles.scrollbar_size_vertical == 0  # following: no bar drawn per new line
        body.focus()
        await pilot.press("pageup")
        await wait_for(pilot, lambda: body.styles.scrollbar_size_vertical == 1, "the bar")
        assert not body.following


async def test_at_80x24_every_form_shows_its_buttons(workspace: Path) -> None:
    from textual.widgets import Button

    app = make_app(make_engine(workspace))
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        for request in (
            RunAgentRequested("helper"),
            RunWorkflowRequested("review"),
            NewAgentRequested(),
        ):
            app.post_message(request)
            await wait_for(pilot, lambda: app.screen.query(Button), "the form")
            await pilot.pause()
            for button in app.screen.query(Button):
                region = button.region
                assert region.height == 3 and region.bottom <= 24, (type(app.screen), region)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")


async def test_the_narrow_pane_strip_always_names_the_large_step() -> None:
    from paracle_engine import events as ev

    steps = [f"stage-{i:02d}-step" for i in range(12)]
    app = make_app(make_engine())
    async with app.run_test(size=(80, 24)) as pilot:
        await booted(pilot)
        bus = app.engine.bus
        edges = {s: [] for s in steps}
        bus.publish(
            ev.RunStarted(
                run_id="run-many",
                ts=1.0,
                kind="workflow",
                target="many",
                step_ids=steps,
                edges=edges,
            )
        )
        for step in steps:
            started = ev.StepStarted(
                run_id="run-many", step_id=step, ts=1.0, agent="w", provider="simulated", model="m"
            )
            bus.publish(started)
            bus.publish(ev.StepCompleted(run_id="run-many", step_id=step, ts=2.0, output="ok"))
        deck = app.main.query_one(PaneDeck)
        await wait_for(pilot, lambda: len(deck.query(ResponsePane)) == len(steps), "the panes")
        strip = deck.query_one("#pane-strip")
        for step in (steps[-1], steps[0], steps[7]):
            deck.choose(step)
            await pilot.pause()
            line = "".join(seg.text for seg in strip.render_line(0))
            assert f" ✓ {step} " in line, line
        assert line.startswith("…")
