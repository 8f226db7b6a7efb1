"""The command line for schedules: ``taskqueue schedules [NAME]``, ``taskqueue schedule-fire``,
``taskqueue sync``, and ``runqueue`` refusing a bad ``TASKQUEUE["SCHEDULES"]``."""

from __future__ import annotations

from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_taskqueue.checks import check_settings
from django_taskqueue.models import QueueItem, Schedule

pytestmark = pytest.mark.django_db(transaction=True)
BERLIN = ZoneInfo("Europe/Berlin")


def _run(*args: str) -> str:
    out = StringIO()
    call_command("taskqueue", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def nightly() -> Schedule:
    schedule = Schedule(name="nightly", alias="Record", cron="0 2 * * *", timezone="Europe/Berlin")
    schedule.full_clean()
    schedule.save()
    return schedule


def test_schedules_lists_each_with_its_description_and_next_fire(nightly):
    listing = _run("schedules")
    assert "nightly" in listing and "At 02:00 every day" in listing
    assert nightly.next_fire_at.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") in listing


def test_a_named_schedule_shows_its_next_five_fire_times(nightly):
    shown = _run("schedules", "nightly").splitlines()
    times = [line.strip() for line in shown[shown.index("  next fire times:") + 1 :]]
    assert len(times) == 5 and all(time.endswith(("CET", "CEST")) for time in times)
    assert all(time.split()[1] == "02:00:00" for time in times)


def test_schedule_fire_makes_one_item_and_leaves_the_timing(nightly):
    said = _run("schedule-fire", "nightly")
    item = QueueItem.objects.get(schedule=nightly)
    assert f"item #{item.pk}" in said
    nightly.refresh_from_db()
    assert nightly.last_fired_at == item.scheduled_for
    assert nightly.next_fire_at.astimezone(BERLIN).hour == 2


def test_an_unknown_schedule_is_a_clear_error(nightly):
    with pytest.raises(CommandError, match="No schedule named 'weekly'. Schedules: nightly."):
        _run("schedule-fire", "weekly")
    assert not QueueItem.objects.exists()


def test_sync_creates_the_declared_schedules():
    declared = {"tidy": {"alias": "Record", "interval_seconds": 3600}}
    with override_settings(TASKQUEUE={"SCHEDULES": declared}):
        assert "created: tidy" in _run("sync")
    assert Schedule.objects.get(name="tidy").description == "Every hour"


BAD = {"tidy": {"alias": "Record", "cron": "0 25 * * *"}}


def test_a_bad_declared_schedule_fails_the_system_check():
    with override_settings(TASKQUEUE={"SCHEDULES": BAD}):
        errors = check_settings()
    assert [error.id for error in errors] == ["django_taskqueue.E004"]
    assert "TASKQUEUE['SCHEDULES']['tidy']" in errors[0].msg and "cron" in errors[0].msg


def test_runqueue_refuses_to_start_with_a_bad_declared_schedule():
    with override_settings(TASKQUEUE={"SCHEDULES": BAD}):
        with pytest.raises(CommandError, match="cron"):
            call_command("runqueue", "tests", "--burst")
    assert not Schedule.objects.exists()
