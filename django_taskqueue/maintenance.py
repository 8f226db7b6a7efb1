"""Housekeeping that runners do as they go and that cron can call on its own.

Both functions are plain callables so django-crontab's ``CRONJOBS`` can name them directly;
the statements are the store's.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .conf import app_settings
from .store import get_store
from .validation import MAX_DURATION, check_seconds, check_unstuck_minutes


def recover_stuck_items(unstuck_minutes: float | None = None) -> dict[str, int]:
    """Give running items of dead runners back to the queue, or fail them if out of attempts.

    A runner is dead when it has not heartbeaten for ``unstuck_minutes`` (default: the
    ``RUNNER_UNSTUCK_MINUTES`` setting). Returns ``{"requeued": n, "failed": m}``.
    """
    minutes = check_unstuck_minutes(
        app_settings.RUNNER_UNSTUCK_MINUTES if unstuck_minutes is None else unstuck_minutes
    )
    return get_store().recover_stuck(minutes)


def prune_finished_items(older_than_days: float | None = None) -> int:
    """Delete items that finished over ``older_than_days`` ago (default: RETENTION_DAYS)."""
    days = check_seconds(
        app_settings.RETENTION_DAYS if older_than_days is None else older_than_days,
        "older_than_days",
        maximum=MAX_DURATION.days,
        unit="days",
    )
    return get_store().prune_finished(timezone.now() - timedelta(days=days))
