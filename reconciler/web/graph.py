"""The dependency graph around one deliverable, laid out for inline SVG: one column per step
upstream (left) or downstream (right), dependencies pointing at their dependents. Geometry only;
the template draws it and escapes every label."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from reconciler.board import FINISHED, Neighbourhood

NODE_WIDTH = 184
NODE_HEIGHT = 50
COLUMN_GAP = 56
ROW_GAP = 14
MARGIN = 10
TITLE_CHARS = 24


@dataclass(frozen=True, slots=True)
class PlacedNode:
    key: str
    title: str
    status: str
    x: int
    y: int
    centre: bool
    open_findings: int


@dataclass(frozen=True, slots=True)
class PlacedEdge:
    path: str  # SVG path data
    holds_up: bool  # the dependency is not finished and blocked or at risk


@dataclass(frozen=True, slots=True)
class Drawing:
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def _short(title: str) -> str:
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


def _column_order(columns: dict[int, list[str]], edges: list[tuple[str, str]]) -> dict[int, list[str]]:
    """Order each column by the mean row of its neighbours in the column nearer the centre
    (one barycentre pass outward each way: few crossings for the small graphs drawn here)."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    ordered = {0: sorted(columns.get(0, []))}
    for depths in (sorted(d for d in columns if d > 0), sorted((d for d in columns if d < 0), reverse=True)):
        for depth in depths:
            inner = ordered.get(depth - 1 if depth > 0 else depth + 1, [])
            row_of = {k: i for i, k in enumerate(inner)}

            def weight(key: str) -> tuple[float, str]:
                rows = [row_of[n] for n in neighbours[key] if n in row_of]
                return (sum(rows) / len(rows) if rows else float(len(inner)), key)

            ordered[depth] = sorted(columns[depth], key=weight)
    return ordered


def layout(graph: Neighbourhood) -> Drawing:
    columns: dict[int, list[str]] = defaultdict(list)
    for node in graph.nodes:
        columns[node.depth].append(node.key)
    ordered = _column_order(columns, graph.edges)
    depths = sorted(ordered)
    tallest = max(len(keys) for keys in ordered.values())
    height = MARGIN * 2 + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    by_key = {n.key: n for n in graph.nodes}
    position: dict[str, tuple[int, int]] = {}
    for index, depth in enumerate(depths):
        keys = ordered[depth]
        column_height = len(keys) * NODE_HEIGHT + (len(keys) - 1) * ROW_GAP
        top = (height - column_height) // 2
        x = MARGIN + index * (NODE_WIDTH + COLUMN_GAP)
        for row, key in enumerate(keys):
            position[key] = (x, top + row * (NODE_HEIGHT + ROW_GAP))
    nodes = [
        PlacedNode(
            key=key, title=_short(by_key[key].title), status=by_key[key].status or "unknown",
            x=x, y=y, centre=by_key[key].depth == 0, open_findings=by_key[key].open_findings,
        )
        for key, (x, y) in position.items()
    ]
    edges = []
    for dependency, dependent in graph.edges:
        (x1, y1), (x2, y2) = position[dependency], position[dependent]
        start_x, start_y = x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2
        end_x, end_y = x2 - 6, y2 + NODE_HEIGHT // 2
        bend = max(20, (end_x - start_x) // 2)
        path = f"M{start_x},{start_y} C{start_x + bend},{start_y} {end_x - bend},{end_y} {end_x},{end_y}"
        status = by_key[dependency].status
        edges.append(PlacedEdge(path=path, holds_up=status not in FINISHED and status in ("blocked", "at_risk")))
    width = MARGIN * 2 + len(depths) * NODE_WIDTH + (len(depths) - 1) * COLUMN_GAP
    return Drawing(width=width, height=height, nodes=nodes, edges=edges)
