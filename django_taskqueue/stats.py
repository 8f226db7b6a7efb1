"""Numbers about the queues, shared by the CLI, the admin dashboard and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from .conf import app_settings
from .models import QueueItem, QueueState, Runner
from .validation import validate_name


def queue_stats(queue_name: str | None = None) -> dict[str, dict[str, int]]:
    """Item counts per queue and status (soft-deleted items excluded).

    ``{"emails": {"queued": 3, "running": 1, "success": 10, ...}}``; every status is present.
    """
    items = QueueItem.objects.all()
    if queue_name is not None:
        items = items.filter(queue_name=validate_name(queue_name, "queue name"))
    return items.counts_by_queue_and_status()


@dataclass
class QueueOverview:
    """One queue's health at a glance: what the dashboard, /health and /metrics show."""

    name: str
    counts: dict[str, int]
    paused: bool = False
    oldest_queued_age_seconds: float | None = None
    completed_last_window: int = 0
    failed_last_hour: int = 0
    stuck: int = 0
    throughput_per_minute: list[int] = field(default_factory=list)  # oldest minute first
    failures_per_minute: list[int] = field(default_factory=list)  # same minutes, failed only


def queue_overview(window_minutes: int = 15) -> list[QueueOverview]:
    """Per-queue counts, age of the oldest ready item, recent throughput and failures.

    Uses a handful of grouped queries whatever the number of queues, each served by the
    (queue_name, status) or (status, completed_at) indexes.
    """
    now = timezone.now()
    counts = queue_stats()
    names = set(counts) | set(QueueState.objects.values_list("name", flat=True))
    paused = set(QueueState.objects.filter(is_paused=True).values_list("name", flat=True))
    oldest = dict(
        QueueItem.objects.filter(status=QueueItem.Status.QUEUED, run_at__lte=now)
        .values_list("queue_name")
        .annotate(oldest=Min("run_at"))
        .order_by()
    )
    window_start = now - timedelta(minutes=window_minutes)
    finished = QueueItem.objects.filter(
        status__in=QueueItem.FINISHED_STATUSES, completed_at__gte=window_start
    )
    per_minute: dict[str, list[int]] = {}
    failures_per_minute: dict[str, list[int]] = {}
    buckets = (
        finished.annotate(minute=TruncMinute("completed_at"))
        .values_list("queue_name", "minute", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for queue, minute, status, n in buckets:
        slot = max(0, min(int((minute - window_start).total_seconds() // 60), window_minutes - 1))
        per_minute.setdefault(queue, [0] * window_minutes)[slot] += n
        if status == QueueItem.Status.FAILED:
            failures_per_minute.setdefault(queue, [0] * window_minutes)[slot] += n
    failed = dict(
        QueueItem.objects.filter(
            status=QueueItem.Status.FAILED, completed_at__gte=now - timedelta(hours=1)
        )
        .values_list("queue_name")
        .annotate(n=Count("id"))
        .order_by()
    )
    stuck_cutoff = now - timedelta(minutes=app_settings.RUNNER_UNSTUCK_MINUTES)
    stuck = dict(
        QueueItem.objects.stuck(stuck_cutoff)
        .values_list("queue_name")
        .annotate(n=Count("id"))
        .order_by()
    )
    empty = {status: 0 for status in QueueItem.Status.values}
    return [
        QueueOverview(
            name=name,
            counts=counts.get(name, dict(empty)),
            paused=name in paused,
            oldest_queued_age_seconds=(
                (now - oldest[name]).total_seconds() if name in oldest else None
            ),
            completed_last_window=sum(per_minute.get(name, [])),
            failed_last_hour=failed.get(name, 0),
            stuck=stuck.get(name, 0),
            throughput_per_minute=per_minute.get(name, [0] * window_minutes),
            failures_per_minute=failures_per_minute.get(name, [0] * window_minutes),
        )
        for name in sorted(names)
    ]


def live_runners() -> list[Runner]:
    return list(Runner.objects.live().order_by("hostname", "pid"))
