"""A workflow's steps laid out for the admin's SVG: columns by depth, boxes coloured by status.

A step's depth is its longest path from a step without parents, so each column holds the
steps that can run once the columns to its left are done, and every edge points right. The
drawing stays readable by its caps: at most ``MAX_PER_COLUMN`` boxes per column (the rest
summed up in a "+k more" box linking to the workflow's items) and ``MAX_COLUMNS`` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..lineage import StepRow

MAX_PER_COLUMN = 20
MAX_COLUMNS = 40
BOX_WIDTH = 180
BOX_HEIGHT = 34
COLUMN_GAP = 60
ROW_GAP = 14
MARGIN = 10
LABEL_CHARACTERS = 22


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    status: str  # "more" for the summary of a column's hidden steps
    label: str
    title: str
    step_id: int | None = None  # None for a "+k more" box
    width: int = BOX_WIDTH
    height: int = BOX_HEIGHT

    @property
    def text_x(self) -> int:
        return self.x + 8

    @property
    def text_y(self) -> int:
        return self.y + self.height // 2 + 4


@dataclass
class Graph:
    boxes: list[Box] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)  # SVG path data, parent to child
    hidden_columns: int = 0
    hidden_steps: int = 0  # in columns past MAX_COLUMNS, and in "+k more" boxes
    width: int = 0
    height: int = 0


def depths(steps: Sequence[StepRow]) -> dict[int, int]:
    """Each step's longest path from a root, parents outside ``steps`` ignored.

    Kahn's order, not the ids': a workflow's rows are inserted per kind of step, so a child
    may have a smaller id than its parent.
    """
    known = {step.id for step in steps}
    parents = {step.id: [p for p in step.parents if p in known] for step in steps}
    children: dict[int, list[int]] = {step.id: [] for step in steps}
    for child, its_parents in parents.items():
        for parent in its_parents:
            children[parent].append(child)
    waiting_for = {pk: len(its_parents) for pk, its_parents in parents.items()}
    depth = {pk: 0 for pk, count in waiting_for.items() if count == 0}
    ready = sorted(depth)
    while ready:
        pk = ready.pop()
        for child in children[pk]:
            depth[child] = max(depth.get(child, 0), depth[pk] + 1)
            waiting_for[child] -= 1
            if waiting_for[child] == 0:
                ready.append(child)
    deepest = max(depth.values(), default=-1)
    # A cycle cannot be enqueued; should one be found, its steps go in a last column.
    return {step.id: depth.get(step.id, deepest + 1) for step in steps}


def layout(steps: Sequence[StepRow]) -> Graph:
    """Where each box and edge goes. Within a column, steps follow the average row of their
    parents (fewer crossings), then their ids."""
    depth = depths(steps)
    columns: list[list[StepRow]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for step in steps:
        columns[depth[step.id]].append(step)
    graph = Graph(hidden_columns=max(len(columns) - MAX_COLUMNS, 0))
    graph.hidden_steps = sum(len(column) for column in columns[MAX_COLUMNS:])
    box_of: dict[int, Box] = {}  # each step drawn: its box, or its column's "+k more" box
    row_of: dict[int, int] = {}
    for number, column in enumerate(columns[:MAX_COLUMNS]):
        column.sort(key=lambda step: (_mean(row_of, step.parents), step.id))
        x = MARGIN + number * (BOX_WIDTH + COLUMN_GAP)
        for row, step in enumerate(column[:MAX_PER_COLUMN]):
            box_of[step.id] = _step_box(step, x, row)
            row_of[step.id] = row
            graph.boxes.append(box_of[step.id])
        hidden = column[MAX_PER_COLUMN:]
        if hidden:
            more = Box(
                x=x,
                y=_y(MAX_PER_COLUMN),
                status="more",
                label=f"+{len(hidden)} more",
                title=f"{len(hidden)} more steps at this depth",
            )
            graph.boxes.append(more)
            graph.hidden_steps += len(hidden)
            for step in hidden:
                box_of[step.id] = more
                row_of[step.id] = MAX_PER_COLUMN
    # An edge per pair of boxes linked by at least one parent and child.
    parents = {step.id: step.parents for step in steps}
    linked: dict[tuple[int, int], str] = {}
    for child_id, child in box_of.items():
        for parent in (box_of[p] for p in parents[child_id] if p in box_of):
            linked.setdefault((id(parent), id(child)), _edge(parent, child))
    graph.edges = list(linked.values())
    graph.width = MARGIN + max((box.x + box.width for box in graph.boxes), default=0)
    graph.height = MARGIN + max((box.y + box.height for box in graph.boxes), default=0)
    return graph


def _step_box(step: StepRow, x: int, row: int) -> Box:
    return Box(
        x=x,
        y=_y(row),
        status=step.status,
        label=_cut(f"#{step.id} {step.alias}"),
        title=f"#{step.id} {step.alias}: {step.status}",
        step_id=step.id,
    )


def _y(row: int) -> int:
    return MARGIN + row * (BOX_HEIGHT + ROW_GAP)


def _mean(row_of: dict[int, int], parents: list[int]) -> float:
    rows = [row_of[parent] for parent in parents if parent in row_of]
    return sum(rows) / len(rows) if rows else 0.0


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARACTERS else text[: LABEL_CHARACTERS - 1] + "…"


def _edge(parent: Box, child: Box) -> str:
    """A curve from the right side of ``parent`` to the left side of ``child``."""
    x1, y1 = parent.x + parent.width, parent.y + parent.height // 2
    x2, y2 = child.x, child.y + child.height // 2
    bend = (x2 - x1) // 2
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
