"""DagView in a small host app: states, glyphs, layout fallback, keys and theme colours."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from rich.color import Color
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from paracle_engine import SPINNER_FRAMES
from paracle_tui.widgets.dag_view import DagView

STYLES = Path(__file__).resolve().parents[2] / "styles" / "dag.tcss"
STEPS = ["fetch", "parse", "summarize", "critique", "translate", "review", "publish"]
EDGES = {
    "parse": ["fetch"],
    "summarize": ["parse"],
    "critique": ["parse"],
    "translate": ["fetch"],
    "review": ["summarize", "critique", "translate"],
    "publish": ["review", "fetch"],
}


class Host(App[None]):
    CSS_PATH = [STYLES]

    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield DagView()

    def on_dag_view_step_selected(self, message: DagView.StepSelected) -> None:
        self.chosen.append(message.step_id)


def screen_text(view: DagView) -> str:
    return "\n".join(view.render_line(y).text for y in range(view.size.height))


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after a generous deadline."""
    try:
        async with asyncio.timeout(10):
            while not condition():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_states_show_their_glyphs_ids_elapsed_and_tokens() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(STEPS, EDGES)
        await pilot.pause()
        assert view.view_mode == "vertical"
        text = screen_text(view)
        assert all(f"○ {step}" in text for step in STEPS)
        assert "▼" in text and "┬" in text

        now = time.time()
        view.update_step("fetch", status="completed", started_at=now - 3, ended_at=now, tokens=1234)
        view.update_step("parse", status="running", tokens=40)
        view.update_step("translate", status="failed", note="HTTP 500")
        view.update_step("summarize", status="awaiting_approval")
        view.update_step("critique", status="skipped")
        view.update_step("publish", status="cancelled")
        await pilot.pause()
        text = screen_text(view)
        assert "✓ fetch" in text and "3.0s · 1.2k tok" in text
        assert "✗ translate" in text and "HTTP 500" in text
        assert "? summarize" in text
        assert "↷ critique" in text
        assert "⊘ publish" in text
        assert "○ review" in text
        assert any(f"{frame} parse" in text for frame in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
        assert "40 tok" in text


async def test_the_spinner_turns_only_while_a_step_runs() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(["solo"], {})
        assert not view.animating
        view.update_step("solo", status="running")
        assert view.animating
        first = screen_text(view)
        await until(
            pilot, lambda: screen_text(view) != first, "the spinner or elapsed time to move"
        )
        view.update_step("solo", status="completed", tokens=7)
        await pilot.pause()
        assert not view.animating
        assert view.state("solo").ended_at is not None
        assert "✓ solo" in screen_text(view)


async def test_a_small_view_degrades_to_an_indented_list_and_back() -> None:
    app = Host()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(STEPS, EDGES)
        view.update_step("fetch", status="completed", tokens=12)
        await pilot.pause()
        assert view.view_mode == "list"
        lines = [view.render_line(y).text.rstrip() for y in range(len(STEPS))]
        assert lines[0] == "▸ ✓ fetch  12 tok"  # selected, depth 0
        assert lines[1] == "    ○ parse"  # depth 1
        assert lines[-1].startswith("          ○ publish")  # depth 4
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert view.view_mode == "vertical"
        assert "┌" in screen_text(view)


async def test_keys_move_the_selection_and_enter_asks_for_the_step() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(STEPS, EDGES)
        view.focus()
        await pilot.pause()
        assert view.selected == "fetch"
        await pilot.press("down")
        assert view.selected in ("parse", "translate")
        await pilot.press("left")
        assert view.selected == "parse"
        await pilot.press("right")
        assert view.selected == "translate"
        await pilot.press("up")
        assert view.selected == "fetch"
        await pilot.press("down", "left")
        assert view.selected == "parse"
        await pilot.press("enter")
        await pilot.pause()
        assert app.chosen == ["parse"]
        assert "┏" in screen_text(view)  # the selected box is drawn heavy


async def test_thirty_steps_scroll_to_keep_the_selection_visible() -> None:
    steps = [f"stage{i // 5}-step{i % 5}" for i in range(30)]
    edges = {steps[i]: [steps[i - 5], steps[(i // 5 - 1) * 5]] for i in range(5, 30)}
    app = Host()
    async with app.run_test(size=(120, 24)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(steps, edges)
        view.focus()
        await pilot.pause()
        assert view.view_mode == "vertical"
        assert view.virtual_size.height > view.size.height
        assert "stage5-step0" not in screen_text(view)
        for _ in range(5):
            await pilot.press("down")
        await pilot.pause()
        assert view.selected.startswith("stage5-")
        assert view.scroll_offset.y > 0
        assert view.selected in screen_text(view)


async def test_clicking_a_box_selects_it() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(STEPS, EDGES)
        await pilot.pause()
        line = next(y for y in range(view.size.height) if "critique" in view.render_line(y).text)
        x = view.render_line(line).text.index("critique")
        await pilot.click(DagView, offset=(x, line))
        await pilot.pause()
        assert view.selected == "critique"
        assert app.chosen == ["critique"]


async def test_colours_follow_the_theme() -> None:
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(["done"], {})
        view.update_step("done", status="completed")
        await pilot.pause()

        def glyph_colour() -> Color | None:
            for y in range(view.size.height):
                for segment in view.render_line(y):
                    if "✓" in segment.text:
                        return segment.style.color
            return None

        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            await pilot.pause()
            expected = Color.parse(app.theme_variables["success"])
            assert glyph_colour().triplet == expected.triplet


async def test_unknown_steps_and_empty_graphs_are_harmless() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DagView)
        assert "no steps" in screen_text(view)
        view.set_graph(["a"], {})
        view.update_step("ghost", status="running")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert view.selected == "a"
        assert not view.animating


async def test_elapsed_times_read_the_given_clock_and_the_spinner_can_be_held() -> None:
    now = [1000.0]

    class Clocked(Host):
        def compose(self) -> ComposeResult:
            yield DagView(clock=lambda: now[0], spin=False)

    app = Clocked()
    async with app.run_test(size=(120, 40)) as pilot:
        view = app.query_one(DagView)
        view.set_graph(["a", "b"], {"b": ["a"]})
        view.update_step("a", status="running")
        assert view.state("a").started_at == 1000.0
        now[0] = 1012.5
        # The ticker redraws the running step from the clock, its spinner held on frame one.
        await until(pilot, lambda: "12.5s" in screen_text(view), "12.5s elapsed on screen")
        assert f"{SPINNER_FRAMES[0]} a" in screen_text(view)
        view.spin = True
        await until(
            pilot,
            lambda: f"{SPINNER_FRAMES[0]} a" not in screen_text(view),
            "the next spinner frame",
        )
        view.update_step("a", status="completed")
        assert view.state("a").ended_at == 1012.5


async def test_no_letter_is_bound_so_the_app_keys_pass_through() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(DagView)
        view.focus()
        await pilot.pause()
        keys = {k for k, b in app.screen.active_bindings.items() if b.node is view}
        assert keys, "the view's own keys are active once it has focus"
        assert not {k for k in keys if len(k) == 1 and k.isalpha()}, keys
