"""Firing schedules: which fire times are due now, and one item for each, once.

Every runner looks for due schedules. For each, it works out the fire times due under the
schedule's misfire policy, then, in one transaction, moves ``next_fire_at`` on only if it
still holds the value read (so of several runners looking at once, one goes on and the others
find nothing to do) and enqueues an item per fire time, marked with the schedule and that
time. A unique constraint on the items' (schedule, fire time) is the last word: a second item
for one fire time cannot be stored, whatever happens.

A fire time is *on time* while it is less than ``SCHEDULE_MISFIRE_GRACE_SECONDS`` old; older
ones were *missed* (every runner was down) and the policy decides: ``skip`` drops them,
``once`` makes one item for the latest of them, ``all`` one per missed time, the latest
``max_catch_up`` of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice, takewhile

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..conf import app_settings
from ..enqueue import enqueue_by_alias
from ..models import QueueItem, Schedule
from ..store import OUTAGE_ERRORS
from .checks import MAX_CATCH_UP

logger = logging.getLogger("django_taskqueue.schedules")


@dataclass
class Due:
    """The fire times to make items for now (oldest first), and the next one after them."""

    times: list[datetime]
    next_at: datetime | None
    missed: bool = False  # some fire times were missed (the policy said what became of them)


def grace() -> timedelta:
    return timedelta(seconds=float(app_settings.SCHEDULE_MISFIRE_GRACE_SECONDS))


def due_fires(schedule: Schedule, now: datetime) -> Due:
    """The fire times of ``schedule`` due at ``now``, from its ``next_fire_at`` on."""
    timing = schedule.timing()
    first = schedule.next_fire_at
    if first is None or first > now:
        return Due([], first)
    cutoff = now - grace()
    start = max(first, cutoff) - timedelta(microseconds=1)
    on_time = list(islice(takewhile(lambda t: t <= now, timing.times_after(start)), MAX_CATCH_UP))
    missed: list[datetime] = []
    if first <= cutoff and schedule.misfire != Schedule.Misfire.SKIP:
        wanted = 1 if schedule.misfire == Schedule.Misfire.ONCE else schedule.max_catch_up
        earlier = takewhile(lambda t: t >= first, timing.times_before(cutoff))
        missed = sorted(t for t in islice(earlier, wanted) if t not in on_time)
    return Due(missed + on_time, timing.next_after(now), missed=first <= cutoff)


@dataclass
class FireReport:
    items: dict[str, list[int]] = field(default_factory=dict)  # schedule name to item ids
    errors: dict[str, str] = field(default_factory=dict)


def fire_due_schedules(using: str, now: datetime | None = None, limit: int = 50) -> FireReport:
    """Fire every enabled schedule due at ``now``, the most overdue first (``limit`` of them)."""
    now = now or timezone.now()
    report = FireReport()
    due = Schedule.objects.using(using).filter(enabled=True, next_fire_at__lte=now)
    for schedule in due.order_by("next_fire_at")[:limit]:
        try:
            ids = fire_schedule(schedule, now)
        except OUTAGE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - one schedule's fault must not stop the others
            logger.exception("Schedule %s could not fire", schedule.name)
            report.errors[schedule.name] = _stop_firing(schedule, exc)
            continue
        if ids:
            report.items[schedule.name] = ids
    return report


def fire_schedule(schedule: Schedule, now: datetime) -> list[int]:
    """Fire what is due of ``schedule``; the ids of the items made (none if another runner
    fired it first)."""
    using = _database(schedule)
    due = due_fires(schedule, now)
    with transaction.atomic(using=using):
        rows = Schedule.objects.using(using).filter(
            pk=schedule.pk, enabled=True, next_fire_at=schedule.next_fire_at
        )
        last = due.times[-1] if due.times else F("last_fired_at")
        if not rows.update(next_fire_at=due.next_at, last_fired_at=last, last_error=""):
            return []
        ids, errors = [], []
        for time in due.times:
            try:
                with transaction.atomic(using=using):
                    ids.append(_enqueue(schedule, time, using))
            except IntegrityError:
                logger.warning("Schedule %s already fired for %s", schedule.name, time)
            except Exception as exc:  # noqa: BLE001 - recorded on the schedule, logged
                logger.exception("Schedule %s could not enqueue its item", schedule.name)
                errors.append(f"{type(exc).__name__}: {exc}")
        if errors:
            Schedule.objects.using(using).filter(pk=schedule.pk).update(last_error=errors[-1])
    if due.missed:
        logger.warning(
            "Schedule %s missed fire times before %s (misfire=%s): fired %d item(s)",
            schedule.name,
            now - grace(),
            schedule.misfire,
            len(ids),
        )
    return ids


def fire_now(schedule: Schedule, now: datetime | None = None) -> QueueItem:
    """An item of ``schedule`` at once (an operator's "fire now"); its timing is unchanged."""
    using = _database(schedule)
    now = now or timezone.now()
    with transaction.atomic(using=using):
        item_id = _enqueue(schedule, now, using)
        Schedule.objects.using(using).filter(pk=schedule.pk).update(last_fired_at=now)
    return QueueItem.objects.using(using).get(pk=item_id)


def _database(schedule: Schedule) -> str:
    """The database the schedule was read from; a row not read from one lives in the queue's."""
    return schedule._state.db or app_settings.DATABASE


def _enqueue(schedule: Schedule, time: datetime, using: str) -> int:
    item = enqueue_by_alias(
        schedule.alias,
        schedule.parameters,
        queue_name=schedule.queue_name or None,
        priority=schedule.priority,
        tenant=schedule.tenant,
    )
    QueueItem.all_objects.using(using).filter(pk=item.pk).update(
        schedule=schedule.pk, scheduled_for=time
    )
    return item.pk


def _stop_firing(schedule: Schedule, exc: Exception) -> str:
    """A schedule whose fire times cannot be worked out stops until an operator saves it."""
    error = f"Stopped: its fire times cannot be worked out ({type(exc).__name__}: {exc})"
    rows = Schedule.objects.using(_database(schedule)).filter(pk=schedule.pk)
    rows.update(next_fire_at=None, last_error=error)
    return error
