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

# What may follow from the item ``{row}`` finishing, as the three columns ``Followers``
# holds: its workflow, whether it has dependents, whether a webhook reports on it (its own
# URL or its definition's). Index probes, so cheap to ask of every row.
FOLLOWERS = (
    "{row}.workflow_id, "
    f"EXISTS (SELECT 1 FROM {DEPENDENCIES} WHERE parent_id = {{row}}.id), "
    f"({{row}}.webhook_url <> '' OR EXISTS (SELECT 1 FROM {DEFINITIONS} "
    "WHERE id = {row}.definition_id AND webhook_url <> ''))"
)
Followers = tuple[int | None, bool, bool]  # workflow id, has dependents, has a webhook


def followers_from(rows: Iterable[Sequence[Any]]) -> dict[int, Followers]:
    """``(id, *FOLLOWERS)`` rows as the ``followers`` of ``settle_finished``: only the items
    something follows from."""
    return {
        row[0]: (row[1], bool(row[2]), bool(row[3]))
        for row in rows
        if row[1] is not None or row[2] or row[3]
    }


# The waiting items among ``{children}`` (ids), judged by their links' copies of
# the parents' final statuses: two index probes each (task_queue_dep_open_idx, _bad_idx).
_JUDGED = f"""
SELECT c.id AS child_id,
       CASE WHEN EXISTS (SELECT 1 FROM {DEPENDENCIES} AS d
                         WHERE d.child_id = c.id AND d.parent_status IS NULL)
            THEN 1 ELSE 0 END AS open,
       (SELECT MIN(d.parent_id) FROM {DEPENDENCIES} AS d
        WHERE d.child_id = c.id AND d.parent_status IN ('failed', 'canceled')) AS first_bad,
       c.on_parent_failure AS on_parent_failure
FROM {ITEMS} AS c
WHERE c.status = 'waiting' AND c.id IN ({{children}})
"""
_CHILDREN_OF = f"SELECT child_id FROM {DEPENDENCIES} WHERE parent_id IN ({{ids}})"
# The parents' links take the parents' statuses: final ones, or None while unfinished.
_COPY_STATUS = f"""
UPDATE {DEPENDENCIES} SET parent_status = (
    SELECT CASE WHEN p.status IN ('success', 'failed', 'canceled') THEN p.status END
    FROM {ITEMS} AS p WHERE p.id = {DEPENDENCIES}.parent_id
)
WHERE parent_id IN ({{ids}})
"""
_CANCEL_MESSAGE = "'Canceled: parent #' || s.first_bad || ' did not succeed.'"
_CANCEL = "s.first_bad IS NOT NULL AND s.on_parent_failure = 'cancel'"
_SETTLE = f"""
UPDATE {ITEMS} SET
    status = CASE WHEN {_CANCEL} THEN 'canceled' ELSE 'queued' END,
    completed_at = CASE WHEN {_CANCEL} THEN %s END,
    last_error = CASE WHEN {_CANCEL} THEN {_CANCEL_MESSAGE} ELSE {ITEMS}.last_error END,
    last_error_message = CASE WHEN {_CANCEL} THEN {_CANCEL_MESSAGE}
                              ELSE {ITEMS}.last_error_message END,
    last_error_class = CASE WHEN {_CANCEL} THEN %s ELSE {ITEMS}.last_error_class END,
    unique_claim = CASE WHEN {_CANCEL} AND {ITEMS}.unique_scope <> 'period' THEN NULL
                        ELSE {ITEMS}.unique_claim END,
    updated_at = %s
FROM ({_JUDGED}) AS s
WHERE {ITEMS}.id = s.child_id AND {ITEMS}.status = 'waiting' AND (s.open = 0 OR ({_CANCEL}))
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
    def add_dependencies(
        self, parents: dict[int, Sequence[int]], statuses: dict[int, str] | None = None
    ) -> None:
        """Record that each child waits for its parents, in the order given; ``statuses``
        are the parents' statuses now, for parents that may have finished already."""
        finished = {
            parent: status
            for parent, status in (statuses or {}).items()
            if status in QueueItem.FINISHED_STATUSES
        }
        links = [
            (child, parent, position, finished.get(parent))
            for child, its_parents in parents.items()
            for position, parent in enumerate(its_parents)
        ]
        with self.connection.cursor() as cursor:  # executemany: pipelined by psycopg
            cursor.executemany(
                f"INSERT INTO {DEPENDENCIES} (child_id, parent_id, position, parent_status) "
                "VALUES (%s, %s, %s, %s)",
                links,
            )

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
        frontier = list(parent_ids)
        while frontier:
            next_frontier: list[int] = []
            for part in chunks(frontier):
                judged = self._judge(self._take_children(part), now)
                next_frontier += [pk for pk, status in judged.items() if status == "canceled"]
            canceled += next_frontier
            frontier = next_frontier
        return canceled

    def judge_children(self, child_ids: Sequence[int]) -> dict[int, str]:
        """Queue or cancel these waiting items now if their parents allow it (a new item's
        parents may have finished already); the new status of each one changed."""
        judged: dict[int, str] = {}
        for part in chunks(child_ids):
            judged.update(self._judge(part, timezone.now()))
        return judged

    def _take_children(self, parent_ids: Sequence[int]) -> list[int]:
        """Copy the parents' statuses to their links; the waiting children to judge, locked
        on PostgreSQL (in id order, in the same statement)."""
        ids = marks(parent_ids)
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                cursor.execute(
                    f"WITH copied AS ({_COPY_STATUS.format(ids=ids)} RETURNING child_id) "
                    f"SELECT id FROM {ITEMS} WHERE status = 'waiting' "
                    "AND id IN (SELECT child_id FROM copied) ORDER BY id FOR NO KEY UPDATE",
                    list(parent_ids),
                )
            else:
                cursor.execute(_COPY_STATUS.format(ids=ids), list(parent_ids))
                cursor.execute(
                    f"SELECT id FROM {ITEMS} WHERE status = 'waiting' "
                    f"AND id IN ({_CHILDREN_OF.format(ids=ids)})",
                    list(parent_ids),
                )
            return [row[0] for row in cursor.fetchall()]

    def _judge(self, child_ids: Sequence[int], now: datetime) -> dict[int, str]:
        """Queue or cancel the waiting items of ``child_ids`` their links allow to; the new
        status of each one changed. Runners of the queues that got work are woken."""
        if not child_ids:
            return {}
        stamp = self.adapt(now)
        with self.connection.cursor() as cursor:
            cursor.execute(
                _SETTLE.format(children=marks(child_ids)),
                [stamp, PARENT_FAILED, stamp, *child_ids],
            )
            rows = cursor.fetchall()
        self.notify(queue for _, status, queue in rows if status != "canceled")
        return {item_id: status for item_id, status, _ in rows}

    # ------------------------------------------------------------------ reading
    def parent_outputs(self, item_id: int) -> list[Any]:
        """The outputs of the item's direct parents, in the order they were given."""
        links = ItemDependency.objects.using(self.using).filter(child_id=item_id)
        return [
            output for output in links.order_by("position").values_list("parent__output", flat=True)
        ]
