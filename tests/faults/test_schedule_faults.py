"""Scenario: a schedule firing every second while a runner is killed with SIGKILL and the
database goes away (PostgreSQL: every backend terminated, and the server restarted in the full
run; SQLite: a writer holding the lock). One item per fire time, none missing."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from django_taskqueue.models import QueueItem, Schedule
from tests.conftest import wait_for

from .conftest import RESTART_POSTGRES, assert_alive, report, scaled
from .test_database_outage import hold_sqlite_write_lock, restart_postgres, terminate_other_backends


@pytest.mark.django_db(transaction=True)
def test_a_schedule_fires_once_per_second_through_a_kill_and_an_outage(run_faults, stopwatch):
    schedule = Schedule(name="every-second", alias="Record", cron="* * * * * *", timezone="UTC")
    schedule.full_clean()
    schedule.save()
    first_due = schedule.next_fire_at
    runners = [run_faults() for _ in range(3)]
    wait_for(lambda: all("started" in runner.output() for runner in runners), 60)
    time.sleep(scaled(3))
    runners[0].signal(signal.SIGKILL)
    if connection.vendor == "postgresql":
        terminate_other_backends()
        if RESTART_POSTGRES:
            restart_postgres()
    else:
        hold_sqlite_write_lock(2.0)
    time.sleep(scaled(4))
    connection.close()
    Schedule.objects.filter(pk=schedule.pk).update(enabled=False)
    last_due = timezone.now() - timedelta(seconds=1)
    assert_alive(runners[1:])
    for runner in runners[1:]:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()

    fired = Counter(
        QueueItem.objects.filter(schedule=schedule).values_list("scheduled_for", flat=True)
    )
    expected = []
    when = first_due
    while when <= last_due:
        expected.append(when)
        when += timedelta(seconds=1)
    duplicates = sum(n - 1 for n in fired.values())
    missing = sorted(set(expected) - set(fired))
    report(
        "schedule_through_faults",
        runners=3,
        killed=1,
        server_restarts=int(RESTART_POSTGRES and connection.vendor == "postgresql"),
        fire_times_expected=len(expected),
        items_made=sum(fired.values()),
        duplicates=duplicates,
        missing=len(missing),
        seconds=stopwatch(),
    )
    assert duplicates == 0
    assert missing == []
    assert len(expected) >= 6  # 7 s of sleeps, less the last second, whatever the start-up
