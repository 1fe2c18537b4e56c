"""A workflow DAG's ordered levels put on a character grid, and its edges routed between them.

No Textual here. Levels sit in bands along the depth of the graph (rows for "vertical",
columns for "horizontal"); inside a band each box sits as near as its order allows to the
mean centre of its predecessors. Each edge runs through the channel between two bands: a
stub out of the source, a run across on its own track, and an arrow into the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from paracle_engine import topological_order

from .dag_levels import Layered

Orientation = Literal["vertical", "horizontal"]

BOX_HEIGHT = 4

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


@dataclass(slots=True)
class Grid:
    """A layout under way, in (main, cross) coordinates: main runs along the depth of the graph,
    cross across it. Node ids below `real` are steps; the others are dummies (lanes)."""

    g: Layered
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


def _place_across(grid: Grid) -> None:
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


def _assign_tracks(grid: Grid) -> None:
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


def _place_along(grid: Grid) -> None:
    """Main positions: each level's band of boxes, then the channel its edges run in."""
    pos = 0
    for li in range(len(grid.levels)):
        grid.band_start.append(pos)
        pos += grid.box_main + (grid.channel_height[li] if li < len(grid.channel_height) else 0)
    grid.main_total = pos


def _route_edges(grid: Grid) -> tuple[dict[tuple[int, int], int], set[tuple[int, int]]]:
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
    grid: Grid, routed: tuple[dict[tuple[int, int], int], set[tuple[int, int]]]
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


def place(
    g: Layered, levels: list[list[int]], real: int, orientation: Orientation, box_w: int
) -> Grid:
    """Put the ordered levels on the grid: boxes across, edge tracks, then bands along."""
    grid = Grid(g, levels, real, orientation, box_w)
    _place_across(grid)
    _assign_tracks(grid)
    _place_along(grid)
    return grid


def draw_edges(grid: Grid) -> dict[int, dict[int, str]]:
    """The placed graph's edges as box-drawing characters on screen: row, then column."""
    return _edge_cells(grid, _route_edges(grid))
