"""Pure layout of a workflow DAG on a character grid: no Textual here, so it is unit-testable.

The pipeline, each stage iterative (a 10,000-step chain must not recurse):

1. `step_depths`: longest-path depth of each step from the roots (Kahn's algorithm).
2. Long edges get one dummy node per level they cross, then the order inside each level is
   chosen by barycenter sweeps, keeping the order with the fewest edge crossings.
3. `layout_graph` places boxes level by level (rows for "vertical", columns for "horizontal")
   and routes each edge through the channel between two levels: a stub out of the source,
   a horizontal run on its own track, and an arrow into the target.
4. `GraphLayout.render_row` turns one grid row into runs of (text, style key) given a
   `NodeLabel` per step; the widget maps style keys to theme styles.

`choose_view` says which of the two orientations, or the compact list, fits a viewport.
Edges that point backwards (only possible in a cyclic graph, which the engine rejects)
are not drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from paracle_engine import STEP_GLYPHS, topological_order

Orientation = Literal["vertical", "horizontal"]
ViewMode = Literal["vertical", "horizontal", "list"]

BOX_HEIGHT = 4
MIN_BOX_WIDTH = 20
MAX_BOX_WIDTH = 28
SORT_SWEEPS = 6

# Direction bits on screen, and the box-drawing character for each combination.
N, E, S, W = 1, 2, 4, 8
_BOX_CHARS = {
    N: "│",
    S: "│",
    N | S: "│",
    E: "─",
    W: "─",
    E | W: "─",
    S | E: "┌",
    S | W: "┐",
    N | E: "└",
    N | W: "┘",
    N | S | E: "├",
    N | S | W: "┤",
    E | W | S: "┬",
    E | W | N: "┴",
    N | E | S | W: "┼",
}
# Abstract directions: along the depth axis (main) and across it (cross).
_MAIN_FWD, _MAIN_BACK, _CROSS_FWD, _CROSS_BACK = 1, 2, 4, 8
_TO_SCREEN = {
    "vertical": {_MAIN_FWD: S, _MAIN_BACK: N, _CROSS_FWD: E, _CROSS_BACK: W},
    "horizontal": {_MAIN_FWD: E, _MAIN_BACK: W, _CROSS_FWD: S, _CROSS_BACK: N},
}
_ARROWS = {"vertical": "▼", "horizontal": "▶"}


def _clean_graph(
    steps: Sequence[str], edges: Mapping[str, Iterable[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """Unique steps in input order, and each step's known dependencies (no self-loops)."""
    order = list(dict.fromkeys(steps))
    known = set(order)
    deps = {
        step: [d for d in dict.fromkeys(edges.get(step, ())) if d in known and d != step]
        for step in order
    }
    return order, deps


def step_depths(steps: Sequence[str], edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Longest-path depth of every step: roots are 0, a step sits one below its deepest dependency.

    `edges` maps a step to its dependencies; unknown dependencies are ignored. Steps caught
    in a cycle are placed one below their deepest placed dependency, in input order.
    """
    order, deps = _clean_graph(steps, edges)
    depth: dict[str, int] = {}
    for step in topological_order(order, deps):
        depth[step] = max((depth[d] + 1 for d in deps[step]), default=0)
    for step in order:
        if step not in depth:
            depth[step] = max((depth[d] + 1 for d in deps[step] if d in depth), default=0)
    return depth


def _count_crossings(upper: list[int], lower: list[int], pairs: list[tuple[int, int]]) -> int:
    """Crossings between two adjacent levels: inversions of lower positions (Fenwick tree)."""
    if len(pairs) < 2:
        return 0
    pos_u = {node: i for i, node in enumerate(upper)}
    pos_l = {node: i for i, node in enumerate(lower)}
    ordered = sorted((pos_u[a], pos_l[b]) for a, b in pairs)
    tree = [0] * (len(lower) + 1)
    crossings = 0
    seen = 0
    for _, lp in ordered:
        # Count earlier edges whose lower end lies strictly to the right of this one.
        i, not_right = lp + 1, 0
        while i > 0:
            not_right += tree[i]
            i -= i & -i
        crossings += seen - not_right
        i = lp + 1
        while i <= len(lower):
            tree[i] += 1
            i += i & -i
        seen += 1
    return crossings


@dataclass(slots=True)
class _Layered:
    """The graph with dummy nodes: ints 0..n-1 are steps, higher ints are dummies."""

    names: list[str]
    level_of: list[int]
    preds: list[list[int]]
    succs: list[list[int]]
    levels: list[list[int]]

    def add(self, level: int) -> int:
        node = len(self.level_of)
        self.level_of.append(level)
        self.preds.append([])
        self.succs.append([])
        self.levels[level].append(node)
        return node

    def link(self, a: int, b: int) -> None:
        self.succs[a].append(b)
        self.preds[b].append(a)


def _build_layered(order: list[str], deps: dict[str, list[str]], depth: dict[str, int]) -> _Layered:
    index = {step: i for i, step in enumerate(order)}
    levels: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    g = _Layered(order, [], [], [], levels)
    for step in order:
        g.add(depth[step])
    for step in order:
        for dep in deps[step]:
            if depth[dep] >= depth[step]:
                continue  # a backwards edge: only a cycle makes one
            prev = index[dep]
            for level in range(depth[dep] + 1, depth[step]):
                dummy = g.add(level)
                g.link(prev, dummy)
                prev = dummy
            g.link(prev, index[step])
    return g


def _order_levels(g: _Layered) -> list[list[int]]:
    """Barycenter sweeps down and up; keep the ordering with the fewest crossings."""
    levels = [list(level) for level in g.levels]

    def total_crossings(levels: list[list[int]]) -> int:
        total = 0
        for upper, lower in zip(levels, levels[1:], strict=False):
            pairs = [(a, b) for a in upper for b in g.succs[a]]
            total += _count_crossings(upper, lower, pairs)
        return total

    def sweep(levels: list[list[int]], downward: bool) -> None:
        indices = range(1, len(levels)) if downward else range(len(levels) - 2, -1, -1)
        for li in indices:
            ref = levels[li - 1] if downward else levels[li + 1]
            pos = {node: i for i, node in enumerate(ref)}
            current = levels[li]

            def key(item: tuple[int, int], pos: dict[int, int] = pos) -> tuple[float, int]:
                i, node = item
                neighbours = g.preds[node] if downward else g.succs[node]
                if not neighbours:
                    return (float(i), i)
                return (sum(pos[n] for n in neighbours) / len(neighbours), i)

            levels[li] = [node for _, node in sorted(enumerate(current), key=key)]

    best, best_cost = [list(level) for level in levels], total_crossings(levels)
    for i in range(SORT_SWEEPS):
        if best_cost == 0:
            break
        sweep(levels, downward=i % 2 == 0)
        cost = total_crossings(levels)
        if cost < best_cost:
            best, best_cost = [list(level) for level in levels], cost
    return best


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


def _spread(wants: list[float], sizes: list[int], gap: int, total: int) -> list[int]:
    """Starts in order, without overlap, inside [0, total), as close (least squares) to `wants`.

    With each item's offset taken out the starts must be non-decreasing: isotonic regression
    by pool-adjacent-violators, then clamped to the room left by the level's span.
    """
    offsets, pos = [], 0
    for size in sizes:
        offsets.append(pos)
        pos += size + gap
    room = max(0, total - (pos - gap if sizes else 0))
    blocks: list[list[float]] = []  # [sum, count] of pooled items
    for want, offset in zip(wants, offsets, strict=True):
        blocks.append([want - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total_, count = blocks.pop()
            blocks[-1][0] += total_
            blocks[-1][1] += count
    bases: list[int] = []
    for block_sum, count in blocks:
        base = min(room, max(0, round(block_sum / count)))
        bases.extend(base for _ in range(int(count)))
    return [base + offset for base, offset in zip(bases, offsets, strict=True)]


def _constrained_order(nodes: list[int], above: dict[int, list[int]]) -> list[int]:
    """`nodes` reordered so each comes after the nodes listed `above` it (Kahn; cycles keep order)."""
    out = topological_order(nodes, above)
    placed = set(out)
    return out + [n for n in nodes if n not in placed]


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
    order, deps = _clean_graph(steps, edges)
    box_w = box_width or box_width_for(order)
    g = _build_layered(order, deps, step_depths(order, deps))
    grid = _Grid(g, _order_levels(g), len(order), orientation, box_w)
    _place_across(grid)
    _assign_tracks(grid)
    _place_along(grid)
    edge_cells = _edge_cells(grid, _route_edges(grid))
    nodes, row_nodes, named_levels = _place_boxes(grid, order)
    vertical = orientation == "vertical"
    cross_total, main_total = grid.cross_total, grid.main_total
    width, height = (cross_total, main_total) if vertical else (main_total, cross_total)
    return GraphLayout(
        orientation, width, height, box_w, nodes, named_levels, edge_cells, row_nodes
    )


@dataclass(slots=True)
class _Grid:
    """A layout under way, in (main, cross) coordinates: main runs along the depth of the graph,
    cross across it. Node ids below `real` are steps; the others are dummies (lanes)."""

    g: _Layered
    levels: list[list[int]]
    real: int
    orientation: Orientation
    box_w: int
    cross_start: dict[int, int] = field(default_factory=dict)
    center: dict[int, int] = field(default_factory=dict)
    cross_total: int = 0
    track_of: dict[int, int] = field(default_factory=dict)
    channel_height: list[int] = field(default_factory=list)  # below each level but the last
    band_start: list[int] = field(default_factory=list)  # where each level starts, along main
    main_total: int = 0

    @property
    def vertical(self) -> bool:
        return self.orientation == "vertical"

    @property
    def box_main(self) -> int:
        return BOX_HEIGHT if self.vertical else self.box_w

    @property
    def box_cross(self) -> int:
        return self.box_w if self.vertical else BOX_HEIGHT

    @property
    def gap(self) -> int:
        return 2 if self.vertical else 1

    def extent(self, node: int) -> int:
        return self.box_cross if node < self.real else 1

    def mid(self, node: int) -> int:
        return self.extent(node) // 2 if node < self.real else 0


def _place_across(grid: _Grid) -> None:
    """Cross positions: the grid is as wide as the widest level; within it each node sits as near
    as its level's order allows to the mean centre of its predecessors (roots: centred)."""
    g, levels, gap = grid.g, grid.levels, grid.gap
    center = grid.center
    spans = [sum(grid.extent(n) for n in level) + gap * max(0, len(level) - 1) for level in levels]
    grid.cross_total = cross_total = max(spans, default=0)
    for level, span in zip(levels, spans, strict=True):
        sizes = [grid.extent(n) for n in level]
        packed = _spread([0.0] * len(level), sizes, gap, cross_total)
        slack = (cross_total - span) // 2
        wants = [
            sum(center[p] for p in g.preds[n]) / len(g.preds[n]) - grid.mid(n)
            if g.preds[n]
            else float(x + slack)
            for n, x in zip(level, packed, strict=True)
        ]
        for node, start in zip(level, _spread(wants, sizes, gap, cross_total), strict=True):
            grid.cross_start[node] = start
            center[node] = start + grid.mid(node)


def _assign_tracks(grid: _Grid) -> None:
    """Tracks per channel: a source's horizontal run shares a track only with disjoint runs, and
    a run that lands on the column where another source leaves goes below that source's run,
    so the two lines meet nowhere (else "├" would read as a merge)."""
    g, center, track_of = grid.g, grid.center, grid.track_of
    for upper in grid.levels[:-1]:
        runs: dict[int, tuple[int, int]] = {}
        for node in upper:
            xs = [center[node]] + [center[t] for t in g.succs[node]]
            if g.succs[node] and min(xs) != max(xs):
                runs[node] = (min(xs), max(xs))
        leaving = {center[node]: node for node in runs}
        above: dict[int, list[int]] = {
            node: [
                leaving[center[t]] for t in g.succs[node] if leaving.get(center[t], node) != node
            ]
            for node in runs
        }
        tracks: list[list[tuple[int, int]]] = []
        for node in _constrained_order(sorted(runs, key=lambda n: runs[n]), above):
            lo, hi = runs[node]
            t = max((track_of[a] + 1 for a in above[node] if a in track_of), default=0)
            while t < len(tracks) and any(lo <= e + 1 and s - 1 <= hi for s, e in tracks[t]):
                t += 1
            if t == len(tracks):
                tracks.append([])
            tracks[t].append((lo, hi))
            track_of[node] = t
        grid.channel_height.append(len(tracks) + 1)


def _place_along(grid: _Grid) -> None:
    """Main positions: each level's band of boxes, then the channel its edges run in."""
    pos = 0
    for li in range(len(grid.levels)):
        grid.band_start.append(pos)
        pos += grid.box_main + (grid.channel_height[li] if li < len(grid.channel_height) else 0)
    grid.main_total = pos


def _route_edges(grid: _Grid) -> tuple[dict[tuple[int, int], int], set[tuple[int, int]]]:
    """The edges as direction bits per (main, cross) cell, and the cells that hold an arrow."""
    g, levels, center, real, box_main = grid.g, grid.levels, grid.center, grid.real, grid.box_main
    masks: dict[tuple[int, int], int] = {}
    arrows: set[tuple[int, int]] = set()

    def mark(main: int, cross: int, bits: int) -> None:
        masks[(main, cross)] = masks.get((main, cross), 0) | bits

    for li, level in enumerate(levels):
        top = grid.band_start[li]
        for node in level:
            if node >= real:  # a dummy: a lane straight through the band
                for m in range(top, top + box_main):
                    mark(m, center[node], _MAIN_FWD | _MAIN_BACK)
            if li == len(levels) - 1 or not g.succs[node]:
                continue
            channel = grid.channel_height[li]
            c0 = top + box_main
            arrow_row = c0 + channel - 1
            x0 = center[node]
            targets = [center[t] for t in g.succs[node]]
            track = c0 + grid.track_of.get(node, channel - 1)
            for m in range(c0, track + 1):
                mark(m, x0, _MAIN_BACK | (_MAIN_FWD if m < track else 0))
            lo, hi = min([x0, *targets]), max([x0, *targets])
            for c in range(lo, hi + 1):
                mark(track, c, (_CROSS_BACK if c > lo else 0) | (_CROSS_FWD if c < hi else 0))
            for t_node, xt in zip(g.succs[node], targets, strict=True):
                mark(track, xt, _MAIN_FWD)
                for m in range(track + 1, arrow_row + 1):
                    mark(m, xt, _MAIN_BACK | _MAIN_FWD)
                if t_node < real:
                    arrows.add((arrow_row, xt))
    return masks, arrows


def _edge_cells(
    grid: _Grid, routed: tuple[dict[tuple[int, int], int], set[tuple[int, int]]]
) -> dict[int, dict[int, str]]:
    """The routed edges as box-drawing characters on screen: row, then column."""
    masks, arrows = routed
    to_screen = _TO_SCREEN[grid.orientation]
    arrow = _ARROWS[grid.orientation]
    edge_cells: dict[int, dict[int, str]] = {}
    for (m, c), bits in masks.items():
        screen = 0
        for bit, sbit in to_screen.items():
            if bits & bit:
                screen |= sbit
        char = arrow if (m, c) in arrows else _BOX_CHARS.get(screen, " ")
        x, y = (c, m) if grid.vertical else (m, c)
        edge_cells.setdefault(y, {})[x] = char
    return edge_cells


def _place_boxes(
    grid: _Grid, order: list[str]
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
