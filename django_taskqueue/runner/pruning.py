"""A runner's duty of pruning finished items past their retention (``retention.py``).

Every ``PRUNE_INTERVAL_SECONDS`` a runner deletes what is due in batches of
``PRUNE_BATCH_SIZE``, each its own short transaction, for at most ``BUDGET_SECONDS`` so its
claims do not wait; if it stopped with work left, it comes back a second later. Several
runners prune side by side: on PostgreSQL each skips the rows another is deleting.
"""

from __future__ import annotations

import logging

from ..conf import app_settings
from ..maintenance import prune_by_status

logger = logging.getLogger("django_taskqueue.runner")

BUDGET_SECONDS = 0.5
AGAIN_SOON_SECONDS = 1.0


class PruneDuty:
    def __init__(self, using: str) -> None:
        self.using = using

    @staticmethod
    def interval() -> float | None:
        """Seconds between two prunings, or None when runners are not to prune."""
        seconds = app_settings.PRUNE_INTERVAL_SECONDS
        return float(seconds) if seconds else None

    def __call__(self) -> float | None:
        deleted = prune_by_status(budget_seconds=BUDGET_SECONDS, using=self.using)
        total = sum(deleted.values())
        if total:
            counts = ", ".join(f"{n} {status}" for status, n in deleted.items() if n)
            logger.info("Pruned %d finished item(s) past their retention: %s", total, counts)
        # A full budget's worth may mean more is due: look again soon, not in a minute.
        return AGAIN_SOON_SECONDS if total >= app_settings.PRUNE_BATCH_SIZE else None
