"""Numbers about the queues, shared by the CLI, the admin dashboard and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from .conf import app_settings
from .models import QueueItem, Runner
from .store import get_store
from .validation import validate_name


def queue_stats(queue_name: str | None = None) -> dict[str, dict[str, int]]:
    """Item counts per queue and status (soft-deleted items excluded).

    ``{"emails": {"queued": 3, "running": 1, "success": 10, ...}}``; every status is present.
    """
    if queue_name is not None:
        validate_name(queue_name, "queue name")
    return get_store().counts_by_queue_and_status(queue_name)


@dataclass
class QueueOverview:
    """One queue's health at a glance: what the dashboard, /health and /metrics show."""

    name: str
    counts: dict[str, int]
    paused: bool = False
    oldest_queued_age_seconds: float | None = None  # of the longest-waiting item that is due
    next_scheduled_at: datetime | None = None  # the earliest run_at still in the future
    completed_last_window: int = 0
    failed_last_hour: int = 0
    stuck: int = 0
    throughput_per_minute: list[int] = field(default_factory=list)  # oldest minute first
    failures_per_minute: list[int] = field(default_factory=list)  # same minutes, failed only


def minute_window(now: datetime, window_minutes: int) -> datetime:
    """The first minute of a window of whole minutes ending with the current one.

    Slot ``i`` of a per-minute series holds the minute ``minute_window(...) + i`` minutes, so
    a chart can label its bars with clock times.
    """
    return now.replace(second=0, microsecond=0) - timedelta(minutes=window_minutes - 1)


def queue_overview(window_minutes: int = 15, now: datetime | None = None) -> list[QueueOverview]:
    """Per-queue counts, age of the oldest due item, next scheduled item, recent throughput
    (per minute, ``minute_window`` first) and failures."""
    store = get_store()
    now = now or timezone.now()
    counts = store.counts_by_queue_and_status()
    switches = store.queue_switches()
    waiting = store.waiting_times(now)
    window_start = minute_window(now, window_minutes)
    per_minute: dict[str, list[int]] = {}
    failures_per_minute: dict[str, list[int]] = {}
    for queue, minute, status, n in store.finished_per_minute(window_start):
        slot = max(0, min(int((minute - window_start).total_seconds() // 60), window_minutes - 1))
        per_minute.setdefault(queue, [0] * window_minutes)[slot] += n
        if status == QueueItem.Status.FAILED:
            failures_per_minute.setdefault(queue, [0] * window_minutes)[slot] += n
    failed = store.failed_since(now - timedelta(hours=1))
    stuck = store.stuck_per_queue(now - timedelta(minutes=app_settings.RUNNER_UNSTUCK_MINUTES))
    empty = {status: 0 for status in QueueItem.Status.values}
    overviews = []
    for name in sorted(set(counts) | set(switches)):
        oldest_due, next_scheduled = waiting.get(name, (None, None))
        overviews.append(
            QueueOverview(
                name=name,
                counts=counts.get(name, dict(empty)),
                paused=switches.get(name, False),
                oldest_queued_age_seconds=(
                    (now - oldest_due).total_seconds() if oldest_due is not None else None
                ),
                next_scheduled_at=next_scheduled,
                completed_last_window=sum(per_minute.get(name, [])),
                failed_last_hour=failed.get(name, 0),
                stuck=stuck.get(name, 0),
                throughput_per_minute=per_minute.get(name, [0] * window_minutes),
                failures_per_minute=failures_per_minute.get(name, [0] * window_minutes),
            )
        )
    return overviews


def live_runners() -> list[Runner]:
    return get_store().live_runners()
