"""A runner's duty of firing schedules: fire what is due, then sleep until the next fire time.

One statement reads the enabled schedules in fire order; those due are fired, the first not
yet due says when to look again. A runner looks at least every ``REFRESH_SECONDS`` (an
operator's new or edited schedule is seen that soon), so an idle runner with nothing due
sends four statements a minute for its schedules.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from ..models import Schedule
from .firing import fire_due_schedules
from .sync import sync_schedules

logger = logging.getLogger("django_taskqueue.schedules")

REFRESH_SECONDS = 15.0


class ScheduleDuty:
    def __init__(self, using: str) -> None:
        self.using = using

    def sync(self) -> None:
        """Bring the declared schedules into the database (at the runner's start)."""
        report = sync_schedules(self.using)
        if report.created:
            logger.info("Created schedule(s) %s from TASKQUEUE['SCHEDULES']", report.created)

    def __call__(self) -> float:
        """Fire the due schedules; the seconds until the next look."""
        now = timezone.now()
        upcoming = (
            Schedule.objects.using(self.using)
            .filter(enabled=True, next_fire_at__isnull=False)
            .order_by("next_fire_at")
            .values_list("next_fire_at", flat=True)[:1]
        )
        first = next(iter(upcoming), None)
        if first is not None and first <= now:
            report = fire_due_schedules(self.using, now)
            for name, ids in report.items.items():
                logger.info("Schedule %s fired item(s) %s", name, ", ".join(map(str, ids)))
            first = (
                Schedule.objects.using(self.using)
                .filter(enabled=True, next_fire_at__isnull=False)
                .order_by("next_fire_at")
                .values_list("next_fire_at", flat=True)
                .first()
            )
        if first is None:
            return REFRESH_SECONDS
        return min(max((first - timezone.now()).total_seconds(), 0.0), REFRESH_SECONDS)
