"""Schedules fired by real runner processes: one item per fire time whatever the number of
runners, a runner killed with SIGKILL halfway included; ``--no-schedules``; the idle cost."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskqueue.models import QueueItem, Schedule
from django_taskqueue.schedules.duty import REFRESH_SECONDS, ScheduleDuty
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _every_second(name: str = "every-second") -> Schedule:
    schedule = Schedule(name=name, alias="Record", cron="* * * * * *", timezone="UTC")
    schedule.full_clean()
    schedule.save()
    return schedule


def test_three_runners_make_one_item_per_fire_time_through_a_kill(start_runner):
    schedule = _every_second()
    first_due = schedule.next_fire_at
    runners = [start_runner("tests", "--interval", "0.2") for _ in range(3)]
    wait_for(lambda: all("started" in r.output() for r in runners), 60)
    time.sleep(5)
    runners[0].signal(signal.SIGKILL)
    time.sleep(5)
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    last_due = timezone.now() - timedelta(seconds=1)
    for runner in runners[1:]:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    fired = Counter(
        QueueItem.objects.filter(schedule=schedule).values_list("scheduled_for", flat=True)
    )
    duplicates = {when: n for when, n in fired.items() if n > 1}
    assert duplicates == {}
    expected = []
    when = first_due
    while when <= last_due:
        expected.append(when)
        when += timedelta(seconds=1)
    assert len(expected) >= 9
    assert [when for when in sorted(fired) if when <= last_due] == expected


def test_a_runner_started_with_no_schedules_fires_none(start_runner):
    runner = start_runner("tests", "--no-schedules", "--interval", "0.2")
    wait_for(lambda: "started" in runner.output(), 60)
    schedule = _every_second()
    time.sleep(2.5)
    assert not QueueItem.objects.filter(schedule=schedule).exists()
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()


def test_an_idle_runner_looks_at_the_schedules_with_one_statement():
    schedule = Schedule(name="yearly", alias="Record", cron="0 0 1 1 *", timezone="UTC")
    schedule.save()
    duty = ScheduleDuty("default")
    with CaptureQueriesContext(connection) as statements:
        wait = duty()
    assert len(statements.captured_queries) == 1
    assert wait == REFRESH_SECONDS  # nothing due for months: look again after the refresh
