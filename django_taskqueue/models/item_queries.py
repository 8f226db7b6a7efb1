"""The queries over queue items: filters, the operators' lists, counts.

``QueueItem`` uses this QuerySet, so the methods that need its statuses import it when
called.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from .fields import SoftDeleteQuerySet

NEWEST_FIRST: tuple[str, ...] = ("-id",)
NEWEST_IN_QUEUE_FIRST: tuple[str, ...] = ("-queue_name", "-id")


class QueueItemQuerySet(SoftDeleteQuerySet):
    def matching(
        self, status: str | None = None, queue_name: str | None = None, alias: str | None = None
    ) -> QueueItemQuerySet:
        """Items with the given status, queue and alias (None: any), newest first.

        The filter operators use from the CLI and the HTTP API alike.
        """
        items = self.order_by(*NEWEST_FIRST)
        if status is not None:
            items = items.filter(status=status)
        if queue_name is not None:
            items = items.in_queue(queue_name)  # in the order it reads from its index
        if alias is not None:
            items = items.filter(definition__alias=alias)
        return items

    def in_queue(self, queue_name: str) -> QueueItemQuerySet:
        """One queue's items, newest first when ordered by ``NEWEST_IN_QUEUE_FIRST``.

        The pair is spelled so that PostgreSQL reads ``task_queue_queue_recent_idx``
        backwards: a range of one value and the order ``(queue_name, id)``. Given
        ``queue_name = X ORDER BY id DESC``, its planner may walk the primary key down from
        the newest item instead, assuming the queue's items are spread evenly; after a burst
        of another queue's items it then reads a page for every item of the burst first.
        """
        return self.filter(queue_name__range=(queue_name, queue_name)).order_by(
            *NEWEST_IN_QUEUE_FIRST
        )

    def finished(self) -> QueueItemQuerySet:
        from .items import QueueItem

        return self.filter(status__in=QueueItem.FINISHED_STATUSES)

    def stuck(self, cutoff: Any) -> QueueItemQuerySet:
        """Running items whose runner stopped heartbeating before ``cutoff``."""
        from .items import QueueItem

        return self.filter(status=QueueItem.Status.RUNNING).filter(
            Q(runner__isnull=True, started_at__lt=cutoff)
            | Q(runner__heartbeat_at__lt=cutoff)
            | Q(runner__stopped_at__isnull=False)
        )

    def counts_by_queue_and_status(self) -> dict[str, dict[str, int]]:
        from .items import QueueItem

        rows = self.values("queue_name", "status").annotate(n=Count("id")).order_by()
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            per_status = result.setdefault(
                row["queue_name"], {status: 0 for status in QueueItem.Status.values}
            )
            per_status[row["status"]] = row["n"]
        return dict(sorted(result.items()))
