"""The pure DAG layout: depths, ordering, routing, fitting, and the compact fallback."""

from __future__ import annotations

import random
import sys

import pytest

from paracle_engine import STEP_GLYPHS, check_step_status
from paracle_tui.widgets.dag_layout import (
    GraphLayout,
    NodeLabel,
    choose_view,
    compact_line,
    compact_rows,
    layout_graph,
    step_depths,
)

DIAMOND_STEPS = ["fetch", "summarize", "critique", "review"]
DIAMOND_EDGES = {"summarize": ["fetch"], "critique": ["fetch"], "review": ["summarize", "critique"]}


def text_rows(layout: GraphLayout, labels: dict[str, NodeLabel] | None = None) -> list[str]:
    labels = labels or {}
    return ["".join(text for text, _ in layout.render_row(y, labels)) for y in range(layout.height)]


def thirty_steps() -> tuple[list[str], dict[str, list[str]]]:
    """A workflow of 30 steps in 6 stages of 5, each step fed by one or two earlier steps."""
    rng = random.Random(7)
    steps = [f"stage{i // 5}-step{i % 5}" for i in range(30)]
    edges: dict[str, list[str]] = {}
    for i in range(5, 30):
        previous = steps[(i // 5 - 1) * 5 : (i // 5) * 5]
        edges[steps[i]] = rng.sample(previous, k=rng.randint(1, 2))
    return steps, edges


def test_depth_is_the_longest_path_from_a_root() -> None:
    depths = step_depths(["a", "b", "c", "d"], {"b": ["a"], "c": ["a", "b"], "d": ["a"]})
    assert depths == {"a": 0, "b": 1, "c": 2, "d": 1}


def test_unknown_dependencies_and_self_loops_are_ignored() -> None:
    assert step_depths(["a", "b"], {"b": ["a", "ghost", "b"]}) == {"a": 0, "b": 1}


def test_a_cycle_still_gets_depths_and_its_backward_edge_is_not_drawn() -> None:
    depths = step_depths(["a", "b", "c"], {"b": ["a", "c"], "c": ["b"]})
    assert depths["a"] == 0 and set(depths) == {"a", "b", "c"}
    layout = layout_graph(["a", "b", "c"], {"b": ["a", "c"], "c": ["b"]})
    assert set(layout.nodes) == {"a", "b", "c"}


def test_levels_become_rows_when_vertical_and_columns_when_horizontal() -> None:
    vertical = layout_graph(DIAMOND_STEPS, DIAMOND_EDGES, orientation="vertical")
    assert vertical.nodes["fetch"].y < vertical.nodes["summarize"].y < vertical.nodes["review"].y
    assert vertical.nodes["summarize"].y == vertical.nodes["critique"].y
    horizontal = layout_graph(DIAMOND_STEPS, DIAMOND_EDGES, orientation="horizontal")
    assert (
        horizontal.nodes["fetch"].x < horizontal.nodes["summarize"].x < horizontal.nodes["review"].x
    )
    assert horizontal.nodes["summarize"].x == horizontal.nodes["critique"].x


def test_ordering_uncrosses_edges_given_in_a_crossing_order() -> None:
    # Input order puts x under a and y under b, but x depends on b and y on a.
    layout = layout_graph(["a", "b", "x", "y"], {"x": ["b"], "y": ["a"]})
    nodes = layout.nodes
    assert (nodes["a"].x < nodes["b"].x) == (nodes["y"].x < nodes["x"].x)


def test_ordering_keeps_a_long_edge_from_cutting_through_a_chain() -> None:
    steps = ["root", "a1", "a2", "a3", "side", "end"]
    edges = {"a1": ["root"], "a2": ["a1"], "a3": ["a2"], "side": ["root"], "end": ["a3", "side"]}
    rows = text_rows(layout_graph(steps, edges))
    # No box border is ever overwritten by an edge: every box keeps its four corners.
    joined = "\n".join(rows)
    assert joined.count("┌") >= 6 and joined.count("┘") >= 6
    assert "┼" not in joined


def test_edges_are_drawn_with_box_characters_and_arrows() -> None:
    vertical = text_rows(layout_graph(["a", "b"], {"b": ["a"]}))
    assert any("┬" in row for row in vertical)  # leaves the bottom of a
    assert any("▼" in row for row in vertical)  # arrives on top of b
    horizontal = text_rows(layout_graph(["a", "b"], {"b": ["a"]}, orientation="horizontal"))
    assert any("▶" in row for row in horizontal)
    assert any("├" in row for row in horizontal)


def test_a_fan_out_and_fan_in_share_junctions() -> None:
    rows = text_rows(layout_graph(DIAMOND_STEPS, DIAMOND_EDGES))
    joined = "\n".join(rows)
    assert (
        joined.count("▼") == 3
    )  # one arrow per dependent box: summarize, critique, review(merged)
    assert "┴" in joined or "┬" in joined


def test_rows_carry_ids_glyphs_and_status_style_keys() -> None:
    layout = layout_graph(["a", "b"], {"b": ["a"]})
    labels = {
        "a": NodeLabel(STEP_GLYPHS["completed"], "a", "1.0s · 12 tok", "completed"),
        "b": NodeLabel(STEP_GLYPHS["failed"], "b", "", "failed", selected=True),
    }
    runs = [run for y in range(layout.height) for run in layout.render_row(y, labels)]
    assert ("│", "completed") in runs or any(key == "completed" for _, key in runs)
    assert any("✓" in text and key == "completed" for text, key in runs)
    assert any("✗" in text and key == "failed" for text, key in runs)
    assert any(key == "selected" and "┏" in text for text, key in runs)  # b's heavy border
    assert any("1.0s · 12 tok" in text and key == "meta" for text, key in runs)
    for y in range(layout.height):
        assert sum(len(text) for text, _ in layout.render_row(y, labels)) == layout.width


def test_long_ids_are_cut_with_an_ellipsis() -> None:
    long_id = "an-extremely-long-step-identifier-that-never-fits"
    rows = text_rows(layout_graph([long_id], {}))
    assert any("…" in row for row in rows)
    assert all(len(row) == len(rows[0]) for row in rows)


def test_node_at_finds_the_box_under_a_cell() -> None:
    layout = layout_graph(DIAMOND_STEPS, DIAMOND_EDGES)
    place = layout.nodes["critique"]
    assert layout.node_at(place.x + 1, place.y + 1) == "critique"
    assert layout.node_at(place.x - 1, place.y + 1) != "critique"


def test_a_thirty_step_workflow_fits_a_120_column_screen() -> None:
    steps, edges = thirty_steps()
    vertical = layout_graph(steps, edges, orientation="vertical")
    horizontal = layout_graph(steps, edges, orientation="horizontal")
    assert vertical.width <= 120
    assert choose_view(120, 40, vertical, horizontal) == "vertical"  # scrolls down the levels
    assert set(vertical.reading_order) == set(steps)


def test_too_small_a_viewport_falls_back_to_the_compact_list() -> None:
    steps, edges = thirty_steps()
    vertical = layout_graph(steps, edges, orientation="vertical")
    horizontal = layout_graph(steps, edges, orientation="horizontal")
    assert choose_view(60, 20, vertical, horizontal) == "list"
    assert choose_view(120, 8, vertical, horizontal) == "list"


def test_a_short_wide_viewport_prefers_the_horizontal_graph() -> None:
    steps = ["a", "b", "c"]
    edges = {"b": ["a"], "c": ["b"]}
    vertical = layout_graph(steps, edges, orientation="vertical")
    horizontal = layout_graph(steps, edges, orientation="horizontal")
    assert choose_view(100, 6, vertical, horizontal) == "horizontal"
    assert choose_view(40, 30, vertical, horizontal) == "vertical"


def test_compact_rows_go_by_depth_and_lines_indent_by_depth() -> None:
    rows = compact_rows(DIAMOND_STEPS, DIAMOND_EDGES)
    assert rows == [("fetch", 0), ("summarize", 1), ("critique", 1), ("review", 2)]
    label = NodeLabel("✓", "review", "2.5s · 1.2k tok", "completed")
    line = "".join(text for text, _ in compact_line(label, 2, 40))
    assert line.startswith("      ✓ review  2.5s · 1.2k tok")
    assert len(line) == 40
    selected = NodeLabel("✓", "review", "", "completed", selected=True)
    assert "".join(text for text, _ in compact_line(selected, 0, 20)).startswith("▸ ✓ review")


def test_a_ten_thousand_step_chain_lays_out_without_recursion() -> None:
    steps = [f"s{i}" for i in range(10_000)]
    edges = {f"s{i}": [f"s{i - 1}"] for i in range(1, 10_000)}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # any recursion over the chain would blow this
    try:
        depths = step_depths(steps, edges)
        layout = layout_graph(steps, edges)
        rows = compact_rows(steps, edges)
    finally:
        sys.setrecursionlimit(limit)
    assert depths["s9999"] == 9999
    assert layout.nodes["s9999"].y > layout.nodes["s0"].y
    assert rows[-1] == ("s9999", 9999)


def test_status_glyphs_cover_exactly_the_engine_step_statuses() -> None:
    from paracle_engine.models import StepStatus

    assert set(STEP_GLYPHS) == {status.value for status in StepStatus}
    assert check_step_status(StepStatus.AWAITING_APPROVAL) == "awaiting_approval"
    with pytest.raises(ValueError, match="unknown step status 'done'"):
        check_step_status("done")
