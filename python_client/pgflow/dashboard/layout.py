"""A layered drawing of a flow's DAG, for the dashboard's SVG.

Steps go in columns by depth (a root in column 0, every other step one column right of its deepest dependency),
so that every edge points right; within a column they are ordered by the mean row of their dependencies (the
barycenter heuristic, two sweeps), which keeps most edges short and uncrossed. Pure Python, no database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: a node's box and the gaps between columns and rows, in SVG user units (pixels at 100%)
NODE_WIDTH = 168
NODE_HEIGHT = 46
COLUMN_GAP = 64
ROW_GAP = 18
MARGIN = 12
#: the room above the steps for edges that skip columns
LANE = 24


@dataclass(frozen=True)
class Node:
    """One step drawn as a box: its top-left corner (x, y), its slug, type and status."""

    slug: str
    step_type: str
    status: str
    x: int
    y: int
    label: str

    @property
    def right(self) -> int:
        return self.x + NODE_WIDTH

    @property
    def middle(self) -> int:
        return self.y + NODE_HEIGHT // 2


@dataclass(frozen=True)
class Edge:
    """A dependency drawn as a cubic Bézier path (SVG ``d`` attribute), from ``dep`` to ``step``."""

    dep: str
    step: str
    path: str


@dataclass(frozen=True)
class Drawing:
    """A laid-out DAG: its nodes, edges and the SVG's width and height."""

    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int


def layout(
    steps: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Drawing:
    """Lay out ``steps`` (dicts with ``step_slug``, ``step_type`` and ``depends_on``, as describe_flow and
    get_run_status give them, in a topological order) in columns by depth. ``statuses`` colours nodes (a step
    missing from it is ``"defined"``); ``labels`` is a second line under each slug (default: its type)."""
    statuses = statuses or {}
    labels = labels or {}
    slugs = [str(step["step_slug"]) for step in steps]
    known = set(slugs)
    deps = {str(step["step_slug"]): [str(d) for d in step.get("depends_on") or [] if str(d) in known] for step in steps}

    depth: dict[str, int] = {}

    def depth_of(slug: str, seen: frozenset[str] = frozenset()) -> int:
        if slug not in depth:
            if slug in seen:  # not a DAG (it never is, from the engine): draw it anyway
                return 0
            depth[slug] = 1 + max((depth_of(d, seen | {slug}) for d in deps[slug]), default=-1)
        return depth[slug]

    columns: list[list[str]] = []
    for slug in slugs:
        at = depth_of(slug)
        while len(columns) <= at:
            columns.append([])
        columns[at].append(slug)

    # barycenter ordering: each column by the mean row of its dependencies, then again with dependents
    dependents: dict[str, list[str]] = {slug: [] for slug in slugs}
    for slug, ds in deps.items():
        for d in ds:
            dependents[d].append(slug)
    for neighbours in (deps, dependents):
        ordered = columns if neighbours is deps else list(reversed(columns))
        for column in ordered[1:]:
            row = {s: i for col in columns for i, s in enumerate(col)}
            column.sort(key=lambda s: _mean([row[n] for n in neighbours[s]], row[s]))

    column_of = {slug: c for c, column in enumerate(columns) for slug in column}
    # an edge that skips columns runs in a lane above the steps it passes, so that it never crosses a box
    skips = any(column_of[slug] - column_of[d] > 1 for slug in slugs for d in deps[slug])
    lane_room = LANE if skips else 0
    tallest = max((len(column) for column in columns), default=0)
    height = MARGIN * 2 + lane_room + tallest * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP
    width = MARGIN * 2 + len(columns) * NODE_WIDTH + max(len(columns) - 1, 0) * COLUMN_GAP
    by_slug: dict[str, Node] = {}
    types = {str(step["step_slug"]): str(step.get("step_type") or "single") for step in steps}
    for c, column in enumerate(columns):
        # each column centred vertically, below the lane
        used = len(column) * NODE_HEIGHT + max(len(column) - 1, 0) * ROW_GAP
        top = MARGIN + lane_room + (height - 2 * MARGIN - lane_room - used) // 2
        for r, slug in enumerate(column):
            by_slug[slug] = Node(
                slug=slug,
                step_type=types[slug],
                status=statuses.get(slug, "defined"),
                x=MARGIN + c * (NODE_WIDTH + COLUMN_GAP),
                y=top + r * (NODE_HEIGHT + ROW_GAP),
                label=labels.get(slug, types[slug]),
            )
    edges = []
    for slug in slugs:
        for d in deps[slug]:
            a, b = by_slug[d], by_slug[slug]
            if column_of[slug] - column_of[d] > 1:
                passed = [by_slug[s].y for c in range(column_of[d] + 1, column_of[slug]) for s in columns[c]]
                lane = min(passed) - LANE // 2 - ROW_GAP // 2
                x1, x2 = a.right + COLUMN_GAP // 2, b.x - COLUMN_GAP // 2
                q = COLUMN_GAP // 4
                path = (
                    f"M{a.right},{a.middle} C{a.right + q},{a.middle} {x1 - q},{lane} {x1},{lane} "
                    f"L{x2},{lane} C{x2 + q},{lane} {b.x - q},{b.middle} {b.x - 6},{b.middle}"
                )
            else:
                bend = (b.x - a.right) // 2
                path = (
                    f"M{a.right},{a.middle} C{a.right + bend},{a.middle} {b.x - bend},{b.middle} {b.x - 6},{b.middle}"
                )
            edges.append(Edge(dep=d, step=slug, path=path))
    return Drawing(nodes=[by_slug[s] for s in slugs], edges=edges, width=max(width, 1), height=max(height, 1))


def _mean(values: list[int], default: int) -> float:
    return sum(values) / len(values) if values else float(default)
