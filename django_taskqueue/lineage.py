"""The graph as the doors show it: an item's parents and children, a workflow's steps and how
many of its items are in each status, read for many rows at once.

The HTTP API, the CLI and the admin show the same things; reading them here keeps a page of
rows at a fixed number of queries, whatever its size, and gives every door the same order:
parents as they were given (``depends_on``), children and steps by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count

from .models import ItemDependency, QueueItem, Workflow
from .models.workflows import StatusCounts


@dataclass(frozen=True)
class StepRow:
    """One step of a workflow: its item's id, alias and status, and the ids it waits for."""

    id: int
    alias: str
    status: str
    parents: list[int]


def parents_of(item_ids: Sequence[int]) -> dict[int, list[int]]:
    """Each item's parents, in the order given; an item without parents is absent."""
    links = (
        ItemDependency.objects.filter(child_id__in=list(item_ids))
        .order_by("child_id", "position")
        .values_list("child_id", "parent_id")
    )
    return _grouped(links)


def children_of(item_ids: Sequence[int]) -> dict[int, list[int]]:
    """The items waiting for each item (or that did), by id; an item without is absent."""
    links = (
        ItemDependency.objects.filter(parent_id__in=list(item_ids))
        .order_by("parent_id", "child_id")
        .values_list("parent_id", "child_id")
    )
    return _grouped(links)


def workflow_steps(workflow: Workflow, limit: int | None = None) -> list[StepRow]:
    """The workflow's steps by id (the first ``limit`` of them), each with its parents."""
    items = (
        QueueItem.all_objects.using(workflow._state.db)
        .filter(workflow=workflow)
        .order_by("id")
        .values_list("id", "definition__alias", "status")
    )
    rows = list(items if limit is None else items[:limit])
    if not rows:
        return []
    links = (
        ItemDependency.objects.using(workflow._state.db)
        .filter(child__workflow=workflow, child_id__lte=rows[-1][0])
        .order_by("child_id", "position")
        .values_list("child_id", "parent_id")
    )
    parents = _grouped(links)
    return [StepRow(pk, alias, status, parents.get(pk, [])) for pk, alias, status in rows]


def status_counts(workflows: Sequence[Workflow]) -> dict[int, StatusCounts]:
    """``Workflow.counts`` of each workflow, read in one query for a page of them."""
    if not workflows:
        return {}
    ids = [workflow.pk for workflow in workflows]
    counts = {pk: StatusCounts({status: 0 for status in QueueItem.Status.values}) for pk in ids}
    rows = (
        QueueItem.all_objects.using(workflows[0]._state.db)
        .filter(workflow_id__in=ids)
        .values_list("workflow_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for workflow_id, status, n in rows:
        counts[workflow_id][status] = n
    return counts


def _grouped(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped
