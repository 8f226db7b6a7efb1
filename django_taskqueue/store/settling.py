"""What follows when items reach their final outcome: dependents, workflows, webhooks.

``settle_finished`` is called in the transaction that finished the items, by whatever
finished them (a runner's outcomes, an operator's cancel, recovery failing an item), so the
consequences commit or roll back with the outcome itself. On PostgreSQL the workflows
concerned are locked, in id order, before they are judged complete, for the same reason as
the children in ``dependencies.py``: two transactions finishing a workflow's last two items
would each see the other's item still running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from ..conf import app_settings
from ..models import ItemDependency, QueueItem, Workflow
from ..webhooks.payloads import WEBHOOK_ALIAS, webhook_payload
from .dependencies import (
    FOLLOWERS,
    ITEMS,
    PARENT_FAILED,
    UNFINISHED,
    WORKFLOWS,
    Followers,
    chunks,
    followers_from,
    marks,
)

# Workflows of some items that have no unfinished item left: each an index probe.
_COMPLETE_WORKFLOWS = f"""
UPDATE {WORKFLOWS} SET
    status = CASE
        WHEN EXISTS (SELECT 1 FROM {ITEMS} AS i
                     WHERE i.workflow_id = {WORKFLOWS}.id AND i.status = 'failed') THEN 'failed'
        WHEN EXISTS (SELECT 1 FROM {ITEMS} AS i
                     WHERE i.workflow_id = {WORKFLOWS}.id AND i.status = 'canceled')
             THEN 'canceled'
        ELSE 'success' END,
    completed_at = %s, updated_at = %s
WHERE id IN ({{workflows}}) AND status = 'running'
  AND NOT EXISTS (SELECT 1 FROM {ITEMS} AS i
                  WHERE i.workflow_id = {WORKFLOWS}.id AND i.status IN {UNFINISHED})
RETURNING id
"""

# What a webhook's body is made of (``webhooks/payloads.py``).
PAYLOAD_FIELDS = (
    "id",
    "definition__alias",
    "definition__webhook_url",
    "webhook_url",
    "queue_name",
    "status",
    "output",
    "last_error_class",
    "last_error_message",
    "attempts",
    "created_at",
    "started_at",
    "completed_at",
    "workflow_id",
)


class Settling:
    """The statements of ``QueueStore`` that follow a final outcome."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        @property
        def connection(self) -> BaseDatabaseWrapper: ...
        def adapt(self, value: Any) -> Any: ...
        def notify_finished(self, tokens: Iterable[str]) -> None: ...
        def settle_dependents(self, parent_ids: Sequence[int], now: datetime) -> list[int]: ...

    # ------------------------------------------------------------------ settling
    def settle_finished(
        self, finished: Sequence[int], followers: dict[int, Followers] | None = None
    ) -> None:
        """Everything that follows from ``finished`` having reached a final status, in the
        caller's transaction: dependents, workflows, webhooks, and waiters told.

        ``followers`` says, for the items of ``finished`` something follows from, what
        (``FOLLOWERS``); a caller whose statement could read it passes it, else it is read.
        """
        if not finished:
            return
        if followers is None:
            followers = self.followers_of(finished)
        now = timezone.now()
        parents = [pk for pk, (_, dependents, _) in followers.items() if dependents]
        canceled = self.settle_dependents(parents, now) if parents else []
        if canceled:
            followers = {**followers, **self.followers_of(canceled)}
        workflows = sorted({workflow for workflow, _, _ in followers.values() if workflow})
        completed = self.complete_workflows(workflows, now) if workflows else []
        webhooks = [pk for pk, (_, _, webhook) in followers.items() if webhook]
        if webhooks:
            self.queue_webhooks(webhooks)
        self.notify_finished(
            [*map(str, finished), *map(str, canceled), *(f"w{pk}" for pk in completed)]
        )

    def followers_of(self, item_ids: Sequence[int]) -> dict[int, Followers]:
        followers: dict[int, Followers] = {}
        for part in chunks(item_ids):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {FOLLOWERS.format(row=ITEMS)} FROM {ITEMS} "
                    f"WHERE id IN ({marks(part)})",
                    list(part),
                )
                followers.update(followers_from(cursor.fetchall()))
        return followers

    def complete_workflows(self, workflows: Sequence[int], now: datetime) -> list[int]:
        """Finish the ``workflows`` (ids, in order) that have nothing left to run; their ids."""
        if self.connection.vendor == "postgresql":
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {WORKFLOWS} WHERE id IN ({marks(workflows)}) "
                    "ORDER BY id FOR NO KEY UPDATE",
                    list(workflows),
                )
        stamp = self.adapt(now)
        completed: list[int] = []
        for part in chunks(workflows):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    _COMPLETE_WORKFLOWS.format(workflows=marks(part)), [stamp, stamp, *part]
                )
                completed += [row[0] for row in cursor.fetchall()]
        return completed

    # ------------------------------------------------------------------ requeue
    def reopen_dependents(self, item_ids: Sequence[int]) -> list[int]:
        """After an operator requeued ``item_ids``: their descendants canceled because a
        parent did not succeed wait again, and their workflows run again. The ids reopened."""
        items = QueueItem.all_objects.using(self.using)
        reopened: list[int] = []
        frontier = list(item_ids)
        now = timezone.now()
        while frontier:
            links = ItemDependency.objects.using(self.using).filter(parent_id__in=frontier)
            links.update(parent_status=None)  # the parents are unfinished again
            children = list(
                items.filter(
                    parent_links__parent_id__in=frontier,
                    status=QueueItem.Status.CANCELED,
                    last_error_class=PARENT_FAILED,
                )
                .values_list("pk", flat=True)
                .distinct()
            )
            items.filter(pk__in=children, status=QueueItem.Status.CANCELED).update(
                status=QueueItem.Status.WAITING,
                completed_at=None,
                last_error="",
                last_error_message="",
                last_error_class="",
                updated_at=now,
            )
            reopened += children
            frontier = children
        workflows = items.filter(pk__in=[*item_ids, *reopened], workflow__isnull=False)
        Workflow.objects.using(self.using).filter(
            pk__in=workflows.values("workflow_id"), status__in=Workflow.FINISHED_STATUSES
        ).update(status=Workflow.Status.RUNNING, completed_at=None, updated_at=now)
        return reopened

    # ------------------------------------------------------------------ webhooks
    def queue_webhooks(self, item_ids: Sequence[int]) -> None:
        """One delivery item (of ``WEBHOOK_QUEUE``) per finished item of ``item_ids`` with a
        webhook URL of its own or of its definition; deliveries report on nothing."""
        from ..inserts import insert_items  # inserts imports the store

        rows = (
            QueueItem.all_objects.using(self.using)
            .filter(pk__in=list(item_ids), status__in=QueueItem.FINISHED_STATUSES)
            .exclude(webhook_url="", definition__webhook_url="")
            .exclude(definition__alias=WEBHOOK_ALIAS)
            .values(*PAYLOAD_FIELDS)
            .order_by("pk")
        )
        deliveries = [
            json.dumps(
                {
                    "item_id": row["id"],
                    "url": row["webhook_url"] or row["definition__webhook_url"],
                    "payload": webhook_payload(row),
                }
            )
            for row in rows
        ]
        if deliveries:
            now = timezone.now()
            queue = str(app_settings.WEBHOOK_QUEUE)
            insert_items(self, WEBHOOK_ALIAS, deliveries, queue, None, now, now)  # type: ignore[arg-type]
