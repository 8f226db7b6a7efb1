"""The statements behind the numbers: counts per queue and status, ages, recent throughput.

A handful of grouped queries whatever the number of queues, each served by the
``(queue_name, status)`` or ``(status, completed_at)`` indexes.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min
from django.db.models.functions import TruncMinute

from ..models import QueueItem, QueueState


class QueueStatistics:
    using: str

    def _alive(self):  # type: ignore[no-untyped-def]
        return QueueItem.objects.using(self.using)

    def counts_by_queue_and_status(
        self, queue_name: str | None = None
    ) -> dict[str, dict[str, int]]:
        """``{"emails": {"queued": 3, "running": 1, ...}}``, every status present, soft-deleted
        items left out."""
        items = self._alive()
        if queue_name is not None:
            items = items.filter(queue_name=queue_name)
        return items.counts_by_queue_and_status()

    def queue_switches(self) -> dict[str, bool]:
        """Queue name -> paused, for every queue that has a switch row."""
        return dict(QueueState.objects.using(self.using).values_list("name", "is_paused"))

    def oldest_ready(self, now: datetime) -> dict[str, datetime]:
        """Per queue, the ``run_at`` of the item that has waited longest since it became ready."""
        return dict(
            self._alive()
            .filter(status=QueueItem.Status.QUEUED, run_at__lte=now)
            .values_list("queue_name")
            .annotate(oldest=Min("run_at"))
            .order_by()
        )

    def finished_per_minute(self, since: datetime) -> list[tuple[str, datetime, str, int]]:
        """``(queue, minute, status, count)`` of items finished since ``since``."""
        return list(
            self._alive()
            .filter(status__in=QueueItem.FINISHED_STATUSES, completed_at__gte=since)
            .annotate(minute=TruncMinute("completed_at"))
            .values_list("queue_name", "minute", "status")
            .annotate(n=Count("id"))
            .order_by()
        )

    def failed_since(self, since: datetime) -> dict[str, int]:
        return dict(
            self._alive()
            .filter(status=QueueItem.Status.FAILED, completed_at__gte=since)
            .values_list("queue_name")
            .annotate(n=Count("id"))
            .order_by()
        )

    def stuck_per_queue(self, cutoff: datetime) -> dict[str, int]:
        """Running items whose runner stopped heartbeating before ``cutoff``, per queue."""
        return dict(
            self._alive().stuck(cutoff).values_list("queue_name").annotate(n=Count("id")).order_by()
        )
