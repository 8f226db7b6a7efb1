"""Dependencies between items: what follows when an item reaches its final outcome.

An item enqueued with parents waits (status ``waiting``) until they finish. Whenever items
finish (outcomes written by a runner, an operator's cancel, recovery failing an item), the
store settles what depended on them in the same transaction, one statement per batch and per
level of the graph: each waiting child whose parents all succeeded is queued, each one
whose parent failed or was canceled is canceled (``on_parent_failure="cancel"``, the reason
recorded), or queued once every parent is finished (``"run"``). A canceled child is
finished in turn, so its own children are settled next. Then the workflows those items
belong to are completed, their result webhooks queued, and anyone waiting for them told.

Two transactions finishing two parents of one child at once would each see the other's
parent still running and release nothing, so on PostgreSQL the children (and workflows)
concerned are locked, in id order, before they are judged: the second transaction then
judges after the first has committed. SQLite has one writer at a time already.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ..models import ItemDependency, QueueItem, TaskDefinition, Workflow

ITEMS = QueueItem._meta.db_table
DEPENDENCIES = ItemDependency._meta.db_table
WORKFLOWS = Workflow._meta.db_table
DEFINITIONS = TaskDefinition._meta.db_table

# Ids per statement: well under SQLite's limit on parameters.
CHUNK = 2000

PARENT_FAILED = "django_taskqueue.exceptions.ParentFailed"
UNFINISHED = "('waiting', 'queued', 'running', 'paused')"
_FINISHED = "('success', 'failed', 'canceled')"

# Whether anything may follow from the item ``{row}`` finishing: dependents, a workflow, a
# webhook (its own or its definition's). Index probes, so cheap to ask of every row.
FOLLOWED = (
    "({row}.workflow_id IS NOT NULL OR {row}.webhook_url <> '' "
    f"OR EXISTS (SELECT 1 FROM {DEPENDENCIES} WHERE parent_id = {{row}}.id) "
    f"OR EXISTS (SELECT 1 FROM {DEFINITIONS} WHERE id = {{row}}.definition_id "
    "AND webhook_url <> ''))"
)

# The waiting children of some parents, judged on all of their parents' statuses.
_JUDGED = f"""
SELECT d.child_id AS child_id,
       SUM(CASE WHEN p.status IN {UNFINISHED} THEN 1 ELSE 0 END) AS open,
       MIN(CASE WHEN p.status IN ('failed', 'canceled') THEN p.id END) AS first_bad,
       MAX(CASE WHEN p.status IN ('failed', 'canceled') AND c.on_parent_failure = 'cancel'
                THEN 1 ELSE 0 END) AS cancel
FROM {DEPENDENCIES} AS d
JOIN {ITEMS} AS p ON p.id = d.parent_id
JOIN {ITEMS} AS c ON c.id = d.child_id
WHERE c.status = 'waiting'
  AND d.child_id IN ({{children}})
GROUP BY d.child_id
"""
_CANCEL_MESSAGE = "'Canceled: parent #' || s.first_bad || ' did not succeed.'"
_SETTLE = f"""
UPDATE {ITEMS} SET
    status = CASE WHEN s.cancel = 1 THEN 'canceled' ELSE 'queued' END,
    completed_at = CASE WHEN s.cancel = 1 THEN %s END,
    last_error = CASE WHEN s.cancel = 1 THEN {_CANCEL_MESSAGE} ELSE {ITEMS}.last_error END,
    last_error_message = CASE WHEN s.cancel = 1 THEN {_CANCEL_MESSAGE}
                              ELSE {ITEMS}.last_error_message END,
    last_error_class = CASE WHEN s.cancel = 1 THEN %s ELSE {ITEMS}.last_error_class END,
    unique_claim = CASE WHEN s.cancel = 1 AND {ITEMS}.unique_scope <> 'period' THEN NULL
                        ELSE {ITEMS}.unique_claim END,
    updated_at = %s
FROM ({_JUDGED}) AS s
WHERE {ITEMS}.id = s.child_id AND {ITEMS}.status = 'waiting' AND (s.open = 0 OR s.cancel = 1)
RETURNING {ITEMS}.id, {ITEMS}.status, {ITEMS}.queue_name
"""


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


class Dependencies:
    """The dependency and workflow statements of ``QueueStore``."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        @property
        def connection(self) -> BaseDatabaseWrapper: ...
        def adapt(self, value: Any) -> Any: ...
        def notify(self, queue_names: Iterable[str]) -> None: ...
        def notify_finished(self, tokens: Iterable[str]) -> None: ...
        def queue_webhooks(self, item_ids: Sequence[int]) -> None: ...

    # ------------------------------------------------------------------ writing the graph
    def add_dependencies(self, parents: dict[int, Sequence[int]]) -> None:
        """Record that each child waits for its parents, in the order given."""
        links = [
            ItemDependency(child_id=child, parent_id=parent, position=position)
            for child, its_parents in parents.items()
            for position, parent in enumerate(its_parents)
        ]
        ItemDependency.objects.using(self.using).bulk_create(links, batch_size=CHUNK)

    def mark_steps(
        self,
        ids: Sequence[int],
        *,
        waiting: Sequence[int] = (),
        workflow_id: int | None = None,
        run_on_parent_failure: Sequence[int] = (),
        webhook_urls: dict[str, list[int]] | None = None,
    ) -> None:
        """Set what the one insert leaves to defaults on new rows: the workflow, the
        ``waiting`` status of those with parents, their failure rule and webhook URLs."""
        items = QueueItem.all_objects.using(self.using)
        if workflow_id is not None:
            for part in chunks(ids):
                items.filter(pk__in=part).update(workflow_id=workflow_id)
        for part in chunks(waiting):
            items.filter(pk__in=part).update(status=QueueItem.Status.WAITING)
        for part in chunks(run_on_parent_failure):
            items.filter(pk__in=part).update(on_parent_failure=QueueItem.OnParentFailure.RUN)
        for url, with_url in (webhook_urls or {}).items():
            for part in chunks(with_url):
                items.filter(pk__in=part).update(webhook_url=url)

    def lock_parents(self, ids: Sequence[int]) -> dict[int, str]:
        """The status of each existing item of ``ids``, which stays as read until commit.

        A new child's links are invisible to a runner finishing its parent at the same moment,
        so the parents are held: on PostgreSQL ``FOR SHARE``, which such an outcome waits for
        (and which waits for an outcome already written); on SQLite the caller has written
        already and holds the one write lock.
        """
        lock = " FOR SHARE" if self.connection.vendor == "postgresql" else ""
        statuses: dict[int, str] = {}
        for part in chunks(sorted(ids)):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, status FROM {ITEMS} WHERE id IN ({marks(part)}) ORDER BY id{lock}",
                    list(part),
                )
                statuses.update(cursor.fetchall())
        return statuses

    # ------------------------------------------------------------------ settling
    def settle_dependents(self, parent_ids: Sequence[int], now: datetime) -> list[int]:
        """Queue or cancel the waiting children of ``parent_ids`` that can be judged now,
        level by level; the ids of those canceled (finished in turn)."""
        canceled: list[int] = []
        released: set[str] = set()
        frontier = list(parent_ids)
        stamp = self.adapt(now)
        while frontier:
            next_frontier: list[int] = []
            for part in chunks(frontier):
                self._lock_children(part)
                children = f"SELECT child_id FROM {DEPENDENCIES} WHERE parent_id IN ({marks(part)})"
                sql = _SETTLE.format(children=children)
                with self.connection.cursor() as cursor:
                    cursor.execute(sql, [stamp, PARENT_FAILED, stamp, *part])
                    for item_id, status, queue_name in cursor.fetchall():
                        if status == QueueItem.Status.CANCELED:
                            next_frontier.append(item_id)
                        else:
                            released.add(queue_name)
            canceled += next_frontier
            frontier = next_frontier
        self.notify(released)
        return canceled

    def judge_children(self, child_ids: Sequence[int]) -> dict[int, str]:
        """Queue or cancel these waiting items now if their parents allow it (a new item's
        parents may have finished already); the new status of each one changed."""
        stamp = self.adapt(timezone.now())
        changed: dict[int, str] = {}
        for part in chunks(child_ids):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    _SETTLE.format(children=marks(part)), [stamp, PARENT_FAILED, stamp, *part]
                )
                rows = cursor.fetchall()
            self.notify(queue for _, status, queue in rows if status != "canceled")
            changed.update((item_id, status) for item_id, status, _ in rows)
        return changed

    def _lock_children(self, parent_ids: Sequence[int]) -> None:
        if self.connection.vendor != "postgresql":
            return
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {ITEMS} WHERE status = 'waiting' AND id IN "
                f"(SELECT child_id FROM {DEPENDENCIES} WHERE parent_id IN ({marks(parent_ids)})) "
                "ORDER BY id FOR NO KEY UPDATE",
                list(parent_ids),
            )

    # ------------------------------------------------------------------ reading
    def parent_outputs(self, item_id: int) -> list[Any]:
        """The outputs of the item's direct parents, in the order they were given."""
        links = ItemDependency.objects.using(self.using).filter(child_id=item_id)
        return [
            output for output in links.order_by("position").values_list("parent__output", flat=True)
        ]
