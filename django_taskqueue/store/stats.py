"""The statements behind the numbers: counts per queue and status, ages, recent throughput.

A handful of grouped queries whatever the number of queues, each served by the
``(queue_name, status)`` or ``(status, completed_at)`` indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.functions import TruncMinute

from ..models import QueueItem, QueueItemAttempt, QueueState


class QueueStatistics:
    """The statistics statements of ``QueueStore``."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

    def _alive(self):  # type: ignore[no-untyped-def]
        return QueueItem.objects.using(self.using)

    def counts_by_queue_and_status(
        self, queue_name: str | None = None
    ) -> dict[str, dict[str, int]]:
        """``{"emails": {"queued": 3, "running": 1, ...}}``, every status present, soft-deleted
        items left out. PostgreSQL estimates some on big tables (``store/big_counts.py``)."""
        return self.exact_counts_by_queue_and_status(queue_name)

    def exact_counts_by_queue_and_status(
        self, queue_name: str | None = None
    ) -> dict[str, dict[str, int]]:
        items = self._alive()
        if queue_name is not None:
            items = items.filter(queue_name=queue_name)
        return items.counts_by_queue_and_status()

    def counts_by_tenant(self) -> list[tuple[str, str, str | None, int]]:
        """``(queue, status, tenant, count)`` of the items, soft-deleted ones left out."""
        rows = self._alive().values_list("queue_name", "status", "tenant").annotate(n=Count("pk"))
        return list(rows.order_by())

    def queue_switches(self) -> dict[str, bool]:
        """Queue name -> paused, for every queue that has a switch row."""
        return dict(QueueState.objects.using(self.using).values_list("name", "is_paused"))

    def waiting_times(self, now: datetime) -> dict[str, tuple[datetime | None, datetime | None]]:
        """Per queue holding queued items: the ``run_at`` of the item that has waited longest
        since it became due (None: none is due yet), and of the next one scheduled after
        ``now`` (None: none is)."""
        rows = (
            self._alive()
            .filter(status=QueueItem.Status.QUEUED)
            .values_list("queue_name")
            .annotate(
                oldest_due=Min("run_at", filter=Q(run_at__lte=now)),
                next_scheduled=Min("run_at", filter=Q(run_at__gt=now)),
            )
            .order_by()
        )
        return {queue: (oldest_due, next_scheduled) for queue, oldest_due, next_scheduled in rows}

    def finished_per_minute(self, since: datetime) -> list[tuple[str, datetime, str, int]]:
        """``(queue, minute, status, count)`` of items finished since ``since``.

        Successes are counted from the attempts that succeeded, which lie together in the
        order they were recorded; the items of the last minutes of a big table each lie on
        a page of their own, and most finished items succeed. Failed and canceled items
        (canceled ones may never have run) are counted from the items. So an item that
        succeeded and was soft-deleted or requeued since still counts at its minute."""
        failed_or_canceled = (
            self._alive()
            .filter(
                status__in=(QueueItem.Status.FAILED, QueueItem.Status.CANCELED),
                completed_at__gte=since,
            )
            .annotate(minute=TruncMinute("completed_at"))
            .values_list("queue_name", "minute", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        succeeded = (
            QueueItemAttempt.objects.using(self.using)
            .filter(
                outcome=QueueItemAttempt.Outcome.SUCCESS,
                finished_at__gte=since,
                queue_name__isnull=False,
            )
            .annotate(minute=TruncMinute("finished_at"))
            .values_list("queue_name", "minute")
            .annotate(n=Count("id"))
            .order_by()
        )
        success = QueueItem.Status.SUCCESS
        return [*failed_or_canceled, *((q, m, success, n) for q, m, n in succeeded)]

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

    def attempt_histograms(self, since: datetime, buckets: Sequence[float]) -> list[dict[str, Any]]:
        """Per queue and alias, for attempts finished since ``since``: how many ran within
        each bucket's seconds (cumulative), with their count and total; and the same for the
        wait from enqueue to the start of the first attempt.

        Read from the attempts alone, through the copies of their item's queue, definition
        and enqueue time: on a big table the items of the last minutes lie on as many pages
        as there are items. Attempts recorded without those copies (before migration 0017)
        are left out."""
        run = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        wait = ExpressionWrapper(F("started_at") - F("enqueued_at"), output_field=DurationField())
        # Both histograms in one pass over the window's attempts.
        chosen = {"run": Q(), "wait": Q(number=1)}
        aggregates: dict[str, Any] = {}
        for name, only in chosen.items():
            aggregates[f"{name}_count"] = Count("id", filter=only)
            aggregates[f"{name}_total"] = Sum(name, filter=only)
            for index, bound in enumerate(buckets):
                within = Q(**{f"{name}__lte": timedelta(seconds=bound)})
                aggregates[f"{name}_le_{index}"] = Count("id", filter=only & within)
        groups = (
            QueueItemAttempt.objects.using(self.using)
            .filter(
                finished_at__gte=since,
                started_at__isnull=False,
                definition__alias__isnull=False,
                enqueued_at__isnull=False,
            )
            .annotate(run=run, wait=wait)
            .values("queue_name", "definition__alias")
            .annotate(**aggregates)
            .order_by("queue_name", "definition__alias")
        )
        rows = []
        for values in groups:
            group: dict[str, Any] = dict(values)
            for name in chosen:
                if group[f"{name}_count"]:
                    rows.append(
                        {
                            "histogram": name,
                            "queue": group["queue_name"],
                            "alias": group["definition__alias"],
                            "count": group[f"{name}_count"],
                            "sum": (group[f"{name}_total"] or timedelta()).total_seconds(),
                            "buckets": [group[f"{name}_le_{i}"] for i in range(len(buckets))],
                        }
                    )
        return sorted(rows, key=lambda row: row["histogram"] != "run")
