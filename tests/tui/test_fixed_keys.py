"""The fixed keys of the main screen work whatever has focus there: no widget swallows them."""

from __future__ import annotations

from typing import Any

from harness import booted, make_app, make_engine, script_research_run, wait_for
from textual.binding import Binding
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.widget import Widget

from paracle_tui.screens.history import HistoryScreen
from paracle_tui.screens.keys import KeysScreen
from paracle_tui.screens.main import MainScreen
from paracle_tui.widgets.dag_view import DagView
from paracle_tui.widgets.library import Library
from paracle_tui.widgets.pane_deck import PaneDeck
from paracle_tui.widgets.response_pane import ResponseBody
from paracle_tui.widgets.run_list import RunList

FIXED_KEYS = {"ctrl+p", "f1", "h", "k", "r", "escape", "q"}
RUN_ID = "run-keys"


async def main_with_a_run(pilot: Pilot[Any]) -> MainScreen:
    """The main screen showing a finished workflow: library, runs, DAG and panes all on show."""
    app = await booted(pilot)
    script_research_run(app.engine.bus, RUN_ID, finished=True)
    await wait_for(
        pilot,
        lambda: RUN_ID in app.session.runs and app.session.runs[RUN_ID].status == "completed",
        "the scripted run",
    )
    deck = app.main.query_one(PaneDeck)
    await wait_for(pilot, lambda: deck.large_step is not None, "the panes")
    return app.main


def focusable(main: MainScreen) -> list[Widget]:
    """Every widget that can take focus, shown or not (the tabs show only when narrow)."""
    return [w for w in main.query("*") if w.focusable]


def bound_keys(node: DOMNode) -> set[str]:
    """The keys `node` binds: the BINDINGS of its class and of every class it inherits."""
    return {
        binding.key
        for cls in type(node).__mro__
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", []))
    }


async def test_no_widget_of_the_main_screen_binds_a_fixed_key() -> None:
    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        main = await main_with_a_run(pilot)
        widgets = focusable(main)
        kinds = {type(w) for w in widgets}
        assert {Library, RunList, DagView, ResponseBody} <= kinds
        for widget in widgets:
            # Everything between the focused widget and the screen sees a key first.
            for node in widget.ancestors_with_self:
                if node is main:
                    break
                taken = FIXED_KEYS & bound_keys(node)
                assert not taken, f"{type(node).__name__} binds {taken}"


async def test_k_and_h_open_their_screens_whatever_has_focus() -> None:
    app = make_app(make_engine())
    async with app.run_test(size=(120, 40)) as pilot:
        main = await main_with_a_run(pilot)
        one_of_each = {type(w): w for w in reversed(focusable(main))}  # the panes are alike
        for widget in one_of_each.values():
            widget.focus()
            await pilot.pause()
            assert app.focused is widget
            for key, screen in (("k", KeysScreen), ("h", HistoryScreen)):
                await pilot.press(key)
                await wait_for(
                    pilot,
                    lambda s=screen: isinstance(app.screen, s),
                    f"{key} to open {screen.__name__} from {type(widget).__name__}",
                )
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is main, "the main screen again")
