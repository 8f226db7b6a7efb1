"""Housekeeping that runners do as they go and that cron can call on its own.

Both functions are plain callables so django-crontab's ``CRONJOBS`` can name them directly.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .conf import app_settings
from .models import QueueItem, QueueItemAttempt
from .validation import MAX_DURATION, check_seconds, check_unstuck_minutes

logger = logging.getLogger("django_taskqueue.maintenance")


def recover_stuck_items(unstuck_minutes: float | None = None) -> dict[str, int]:
    """Give running items of dead runners back to the queue, or fail them if out of attempts.

    A runner is dead when it has not heartbeaten for ``unstuck_minutes``. Its attempt counts as
    spent (the handler may have run), so an item that crashed its runner every time cannot loop
    forever.
    """
    minutes = check_unstuck_minutes(
        app_settings.RUNNER_UNSTUCK_MINUTES if unstuck_minutes is None else unstuck_minutes
    )
    now = timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    message = f"Runner lost: no heartbeat for {minutes:g} minute(s) while this item ran."
    with transaction.atomic():
        stuck = list(
            QueueItem.all_objects.stuck(cutoff)
            .select_for_update(skip_locked=True, of=("self",))
            .values("id", "attempts", "max_attempts", "started_at", "runner_id")
        )
        if not stuck:
            return {"requeued": 0, "failed": 0}
        exhausted = [row["id"] for row in stuck if row["attempts"] >= row["max_attempts"]]
        retry = [row["id"] for row in stuck if row["attempts"] < row["max_attempts"]]
        common = {
            "runner": None,
            "updated_at": now,
            "last_error": message,
            "cancel_requested": False,
        }
        QueueItem.all_objects.filter(pk__in=retry, status=QueueItem.Status.RUNNING).update(
            status=QueueItem.Status.QUEUED, run_at=now, **common
        )
        QueueItem.all_objects.filter(pk__in=exhausted, status=QueueItem.Status.RUNNING).update(
            status=QueueItem.Status.FAILED, completed_at=now, **common
        )
        QueueItemAttempt.objects.bulk_create(
            QueueItemAttempt(
                item_id=row["id"],
                number=row["attempts"],
                runner_name=row["runner_id"] or "",
                started_at=row["started_at"],
                finished_at=now,
                outcome=QueueItemAttempt.Outcome.LOST,
                error=message,
            )
            for row in stuck
        )
    if retry:
        from .notify import wake_runners

        wake_runners(
            QueueItem.all_objects.filter(pk__in=retry).values_list("queue_name", flat=True)
        )
    logger.warning(
        "Recovered %d stuck item(s): %d requeued, %d failed", len(stuck), len(retry), len(exhausted)
    )
    return {"requeued": len(retry), "failed": len(exhausted)}


def prune_finished_items(older_than_days: float | None = None) -> int:
    """Delete items that finished over ``older_than_days`` ago (default: RETENTION_DAYS)."""
    days = check_seconds(
        app_settings.RETENTION_DAYS if older_than_days is None else older_than_days,
        "older_than_days",
        maximum=MAX_DURATION.days,
        unit="days",
    )
    cutoff = timezone.now() - timedelta(days=days)
    _, per_model = QueueItem.all_objects.finished().filter(completed_at__lt=cutoff).delete()
    return per_model.get(QueueItem._meta.label, 0)
