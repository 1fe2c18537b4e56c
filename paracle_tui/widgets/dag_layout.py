"""Pure layout of a workflow DAG on a character grid: no Textual here, so it is unit-testable.

The pipeline, each stage iterative (a 10,000-step chain must not recurse):

1. `dag_levels`: the longest-path depth of each step (`step_depths`), dummy nodes on long
   edges, and the order inside each level with the fewest edge crossings.
2. `dag_grid`: the levels placed as bands of boxes (rows for "vertical", columns for
   "horizontal") and each edge routed through the channel between two levels.
3. `layout_graph` (here) runs both and answers a `GraphLayout`, whose `render_row` turns one
   grid row into runs of (text, style key) given a `NodeLabel` per step, drawing the boxes;
   the widget maps style keys to theme styles.

`choose_view` says which of the two orientations, or the compact list, fits a viewport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from paracle_engine import STEP_GLYPHS

from .dag_grid import BOX_HEIGHT, Grid, Orientation, draw_edges, place
from .dag_levels import clean_graph, layer, step_depths

__all__ = [
    "BOX_HEIGHT",
    "GraphLayout",
    "NodeLabel",
    "NodePlace",
    "Orientation",
    "Run",
    "ViewMode",
    "box_width_for",
    "choose_view",
    "compact_line",
    "compact_rows",
    "layout_graph",
    "step_depths",
]

ViewMode = Literal["vertical", "horizontal", "list"]

MIN_BOX_WIDTH = 20
MAX_BOX_WIDTH = 28


@dataclass(frozen=True, slots=True)
class NodePlace:
    """Where a step's box sits on the grid (screen cells)."""

    step: str
    level: int
    x: int
    y: int
    width: int
    height: int
    has_in: bool
    has_out: bool


@dataclass(frozen=True, slots=True)
class NodeLabel:
    """What a box shows: `status` is a StepStatus value and also the style key of glyph and border."""

    glyph: str
    title: str
    meta: str
    status: str
    selected: bool = False


Run = tuple[str, str | None]


@dataclass(slots=True)
class GraphLayout:
    """A laid-out DAG: box positions and edge characters on a `width` x `height` grid."""

    orientation: Orientation
    width: int
    height: int
    box_width: int
    nodes: dict[str, NodePlace]
    levels: list[list[str]]
    edge_cells: dict[int, dict[int, str]] = field(default_factory=dict)
    row_nodes: dict[int, list[str]] = field(default_factory=dict)

    @property
    def reading_order(self) -> list[str]:
        """Steps level by level, each level in its drawn order."""
        return [step for level in self.levels for step in level]

    def node_at(self, x: int, y: int) -> str | None:
        """The step whose box covers cell (x, y), if any."""
        for step in self.row_nodes.get(y, ()):
            place = self.nodes[step]
            if place.x <= x < place.x + place.width:
                return step
        return None

    def render_row(self, y: int, labels: Mapping[str, NodeLabel]) -> list[Run]:
        """Row `y` as runs of (text, style key); keys: "edge", "title", "meta", a status, or
        "selected" for the border of the selected box. The runs cover exactly `width` cells."""
        chars = [" "] * self.width
        keys: list[str | None] = [None] * self.width
        for x, char in self.edge_cells.get(y, {}).items():
            chars[x] = char
            keys[x] = "edge"
        for step in self.row_nodes.get(y, ()):
            place = self.nodes[step]
            label = labels.get(step) or NodeLabel(STEP_GLYPHS["pending"], step, "", "pending")
            self._draw_box_row(chars, keys, place, y - place.y, label)
        runs: list[Run] = []
        start = 0
        for x in range(1, self.width + 1):
            if x == self.width or keys[x] != keys[start]:
                runs.append(("".join(chars[start:x]), keys[start]))
                start = x
        return runs

    def _draw_box_row(
        self, chars: list[str], keys: list[str | None], place: NodePlace, row: int, label: NodeLabel
    ) -> None:
        x0, w = place.x, place.width
        # The selected box is drawn heavy, so it stands out without colour (NO_COLOR).
        border = "selected" if label.selected else label.status
        box = _HEAVY if label.selected else _LIGHT
        vertical = self.orientation == "vertical"
        if row in (0, place.height - 1):
            top = row == 0
            line = [box["h"]] * w
            line[0], line[-1] = (box["tl"], box["tr"]) if top else (box["bl"], box["br"])
            if vertical and not top and place.has_out:
                line[w // 2] = box["down"]
            chars[x0 : x0 + w] = line
            keys[x0 : x0 + w] = [border] * w
            return
        mid = place.height // 2
        left = box["in"] if not vertical and place.has_in and row == mid else box["v"]
        right = box["out"] if not vertical and place.has_out and row == mid else box["v"]
        inner = w - 2
        if row == 1:
            text = _fit(f" {label.glyph} {label.title}", inner)
            cells = [(left, border), (text[:3], label.status), (text[3:], "title"), (right, border)]
        else:
            cells = [(left, border), (_fit(f"   {label.meta}", inner), "meta"), (right, border)]
        x = x0
        for text, key in cells:
            for char in text:
                chars[x] = char
                keys[x] = key
                x += 1


_LIGHT = {"h": "─", "v": "│", "tl": "┌", "tr": "┐", "bl": "└", "br": "┘"}
_HEAVY = {"h": "━", "v": "┃", "tl": "┏", "tr": "┓", "bl": "┗", "br": "┛"}
# Where an edge leaves a bottom or right border, or enters a left border.
_LIGHT |= {"down": "┬", "out": "├", "in": "┤"}
_HEAVY |= {"down": "┯", "out": "┠", "in": "┨"}


def _fit(text: str, width: int) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.ljust(width)


def box_width_for(steps: Iterable[str]) -> int:
    """A box wide enough for the longest step id, within sensible bounds."""
    longest = max((len(step) for step in steps), default=0)
    return max(MIN_BOX_WIDTH, min(MAX_BOX_WIDTH, longest + 6))


def layout_graph(
    steps: Sequence[str],
    edges: Mapping[str, Iterable[str]],
    *,
    orientation: Orientation = "vertical",
    box_width: int | None = None,
) -> GraphLayout:
    """Lay out a DAG: levels by longest-path depth, rows ("vertical") or columns ("horizontal").

    `edges` maps each step to its dependencies; arrows point from a dependency to its dependent.
    """
    order, deps = clean_graph(steps, edges)
    box_w = box_width or box_width_for(order)
    g, levels = layer(order, deps)
    grid = place(g, levels, len(order), orientation, box_w)
    edge_cells = draw_edges(grid)
    nodes, row_nodes, named_levels = _place_boxes(grid, order)
    vertical = orientation == "vertical"
    cross_total, main_total = grid.cross_total, grid.main_total
    width, height = (cross_total, main_total) if vertical else (main_total, cross_total)
    return GraphLayout(
        orientation, width, height, box_w, nodes, named_levels, edge_cells, row_nodes
    )


def _place_boxes(
    grid: Grid, order: list[str]
) -> tuple[dict[str, NodePlace], dict[int, list[str]], list[list[str]]]:
    """Each step's box on screen, the steps each row crosses, and the levels by step name."""
    g = grid.g
    nodes: dict[str, NodePlace] = {}
    row_nodes: dict[int, list[str]] = {}
    named_levels: list[list[str]] = []
    for li, level in enumerate(grid.levels):
        named: list[str] = []
        for node in level:
            if node >= grid.real:
                continue
            name = order[node]
            named.append(name)
            main, cross = grid.band_start[li], grid.cross_start[node]
            x, y = (cross, main) if grid.vertical else (main, cross)
            w, h = grid.box_w, BOX_HEIGHT
            nodes[name] = NodePlace(name, li, x, y, w, h, bool(g.preds[node]), bool(g.succs[node]))
            for row in range(y, y + h):
                row_nodes.setdefault(row, []).append(name)
        named_levels.append(named)
    return nodes, row_nodes, named_levels


def compact_rows(steps: Sequence[str], edges: Mapping[str, Iterable[str]]) -> list[tuple[str, int]]:
    """Steps for the one-line-per-step list: (step, depth), by depth then input order."""
    depth = step_depths(steps, edges)
    order = list(dict.fromkeys(steps))
    position = {step: i for i, step in enumerate(order)}
    return [(step, depth[step]) for step in sorted(order, key=lambda s: (depth[s], position[s]))]


def compact_line(label: NodeLabel, depth: int, width: int) -> list[Run]:
    """One step of the compact list as runs: a cursor mark, indent by depth, glyph, id, meta."""
    indent = ("▸ " if label.selected else "  ") + "  " * min(depth, 12)
    room = max(2, width - len(indent) - 2 - (len(label.meta) + 2 if label.meta else 0))
    title = label.title if len(label.title) <= room else label.title[: room - 1] + "…"
    runs: list[Run] = [(indent, None), (f"{label.glyph} ", label.status), (title, "title")]
    if label.meta:
        runs.append(("  " + label.meta, "meta"))
    used = sum(len(text) for text, _ in runs)
    if used < width:
        runs.append((" " * (width - used), None))
    return runs


def choose_view(
    width: int, height: int, vertical: GraphLayout, horizontal: GraphLayout
) -> ViewMode:
    """The view that suits a `width` x `height` viewport.

    A graph that fits whole wins (vertical first); then one that fits across and scrolls
    along its depth, if at least two levels are visible; otherwise the compact list.
    """
    if not vertical.nodes:
        return "list"
    for layout in (vertical, horizontal):
        if layout.width <= width and layout.height <= height:
            return layout.orientation
    if vertical.width <= width and height >= 2 * BOX_HEIGHT + 3:
        return "vertical"
    if horizontal.height <= height and width >= 2 * horizontal.box_width + 4:
        return "horizontal"
    return "list"
