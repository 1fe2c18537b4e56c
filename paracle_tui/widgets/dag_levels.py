"""The levels of a workflow DAG and the order inside each: no coordinates yet, no Textual.

Each stage is iterative (a 10,000-step chain must not recurse):

1. `step_depths`: longest-path depth of each step from the roots (Kahn's algorithm).
2. `layer`: long edges get one dummy node per level they cross, then the order inside each
   level is chosen by barycenter sweeps, keeping the order with the fewest edge crossings.
   Edges that point backwards (only possible in a cyclic graph, which the engine rejects)
   are left out, so they are never drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from paracle_engine import topological_order

SORT_SWEEPS = 6


def clean_graph(
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
    order, deps = clean_graph(steps, edges)
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
class Layered:
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


def _build_layered(order: list[str], deps: dict[str, list[str]], depth: dict[str, int]) -> Layered:
    index = {step: i for i, step in enumerate(order)}
    levels: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    g = Layered(order, [], [], [], levels)
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


def _order_levels(g: Layered) -> list[list[int]]:
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


def layer(order: list[str], deps: dict[str, list[str]]) -> tuple[Layered, list[list[int]]]:
    """The graph with its dummy nodes, and its levels each in the order to draw them in."""
    g = _build_layered(order, deps, step_depths(order, deps))
    return g, _order_levels(g)
