"""Housekeeping that runners do as they go and that cron can call on its own.

Both functions are plain callables so django-crontab's ``CRONJOBS`` can name them directly;
the statements are the store's.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone

from .conf import app_settings
from .retention import FINISHED, retention_policy
from .store import get_store
from .validation import MAX_DURATION, check_integer, check_seconds, check_unstuck_minutes


def recover_stuck_items(unstuck_minutes: float | None = None) -> dict[str, int]:
    """Give running items of dead runners back to the queue, or fail them if out of attempts.

    A runner is dead when it has not heartbeaten for ``unstuck_minutes`` (default: the
    ``RUNNER_UNSTUCK_MINUTES`` setting). Returns ``{"requeued": n, "failed": m}``.
    """
    minutes = check_unstuck_minutes(
        app_settings.RUNNER_UNSTUCK_MINUTES if unstuck_minutes is None else unstuck_minutes
    )
    return get_store().recover_stuck(minutes)


def prune_finished_items(
    older_than_days: float | None = None, *, budget_seconds: float | None = None
) -> int:
    """Delete finished items past their retention, in batches of ``PRUNE_BATCH_SIZE``.

    By ``TASKQUEUE["RETENTION"]`` (per status; ``RETENTION_DAYS`` for the rest), or, with
    ``older_than_days``, every item that finished over that many days ago. Finished
    workflows left without steps go too. With ``budget_seconds``, it stops after the batch
    that spends it (the rest waits for the next call). Returns how many items it deleted.
    """
    return sum(prune_by_status(older_than_days, budget_seconds=budget_seconds).values())


def prune_by_status(
    older_than_days: float | None = None,
    *,
    budget_seconds: float | None = None,
    using: str | None = None,
) -> dict[str, int]:
    """``prune_finished_items``, telling how many items of each status went."""
    if older_than_days is None:
        policy = retention_policy()
    else:
        days = check_seconds(
            older_than_days, "older_than_days", maximum=MAX_DURATION.days, unit="days"
        )
        policy = {status: timedelta(days=days) for status in FINISHED}
    size = check_integer(app_settings.PRUNE_BATCH_SIZE, "PRUNE_BATCH_SIZE", 1, 100_000)
    store = get_store(using)
    now = timezone.now()
    give_up = None if budget_seconds is None else time.monotonic() + budget_seconds
    deleted = dict.fromkeys(policy, 0)
    for status, kept in policy.items():
        if kept is None:
            continue
        while True:  # at least one batch, however small the budget
            done = store.prune_batch(status, now - kept, size)
            deleted[status] += done
            if done < size or (give_up is not None and time.monotonic() >= give_up):
                break
        if give_up is not None and time.monotonic() >= give_up:
            break
    kept_longest = max((kept for kept in policy.values() if kept is not None), default=None)
    if kept_longest is not None:
        store.prune_empty_workflows(now - kept_longest)
    return deleted
