"""Schedules, fired with a controlled clock: one item per fire time, misfire policies, start and
end, daylight saving, declared schedules, and faults that must not stop the firing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from django_taskqueue.models import QueueItem, Schedule
from django_taskqueue.schedules.checks import InvalidSchedule
from django_taskqueue.schedules.firing import fire_due_schedules, fire_now, fire_schedule
from django_taskqueue.schedules.sync import sync_schedules

pytestmark = pytest.mark.django_db(transaction=True)

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _schedule(name: str = "minutely", next_fire_at: datetime | None = None, **fields) -> Schedule:
    fields.setdefault("alias", "Record")
    if "interval_seconds" not in fields:
        fields.setdefault("cron", "* * * * *")
    fields.setdefault("timezone", "UTC")
    schedule = Schedule(name=name, **fields)
    schedule.full_clean()
    schedule.save()
    if next_fire_at is not None:
        Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=next_fire_at)
        schedule.refresh_from_db()
    return schedule


def _fired(schedule: Schedule) -> list[datetime]:
    items = QueueItem.objects.filter(schedule=schedule).order_by("scheduled_for")
    return list(items.values_list("scheduled_for", flat=True))


def test_a_new_schedule_fires_first_at_its_next_time_not_in_the_past():
    before = timezone.now()
    schedule = _schedule()
    assert schedule.next_fire_at is not None
    assert before < schedule.next_fire_at <= before + timedelta(minutes=1)
    assert schedule.next_fire_at.second == 0
    assert fire_due_schedules("default", now=before).items == {}


def test_a_due_schedule_makes_one_item_per_fire_time_and_moves_on():
    schedule = _schedule(next_fire_at=NOON, parameters={"value": 7}, priority=3)
    report = fire_due_schedules("default", now=NOON + timedelta(seconds=1))
    assert list(report.items) == ["minutely"]
    item = QueueItem.objects.get(schedule=schedule)
    assert (item.scheduled_for, item.parameters, item.priority) == (NOON, {"value": 7}, 3)
    schedule.refresh_from_db()
    assert schedule.next_fire_at == NOON + timedelta(minutes=1)
    assert schedule.last_fired_at == NOON
    # Looked at again at the same moment: nothing more.
    assert fire_due_schedules("default", now=NOON + timedelta(seconds=1)).items == {}
    assert _fired(schedule) == [NOON]


def test_of_two_runners_that_read_the_same_row_only_one_fires():
    _schedule(next_fire_at=NOON)
    first, second = Schedule.objects.get(), Schedule.objects.get()
    assert len(fire_schedule(first, NOON)) == 1
    assert fire_schedule(second, NOON) == []
    assert QueueItem.objects.count() == 1


def test_the_database_refuses_a_second_item_for_one_fire_time():
    schedule = _schedule(next_fire_at=NOON)
    fire_due_schedules("default", now=NOON)
    copy = QueueItem.objects.get(schedule=schedule)
    copy.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()


@pytest.mark.parametrize(
    "misfire, catch_up, expected",
    [
        # Down from 11:00 to 12:00:30; the grace is 60 s, so 12:00 is on time.
        ("skip", 100, [NOON]),
        ("once", 100, [NOON - timedelta(minutes=1), NOON]),
        ("all", 5, [NOON - timedelta(minutes=m) for m in (5, 4, 3, 2, 1)] + [NOON]),
    ],
)
def test_after_downtime_the_misfire_policy_decides(misfire, catch_up, expected):
    schedule = _schedule(
        next_fire_at=NOON - timedelta(hours=1), misfire=misfire, max_catch_up=catch_up
    )
    fire_due_schedules("default", now=NOON + timedelta(seconds=30))
    assert _fired(schedule) == expected
    schedule.refresh_from_db()
    assert schedule.next_fire_at == NOON + timedelta(minutes=1)


def test_all_fires_every_missed_time_when_there_are_fewer_than_max_catch_up():
    schedule = _schedule(next_fire_at=NOON - timedelta(minutes=3), misfire="all")
    fire_due_schedules("default", now=NOON + timedelta(minutes=2))
    assert _fired(schedule) == [NOON + timedelta(minutes=m) for m in (-3, -2, -1, 0, 1, 2)]


def test_an_interval_schedule_stops_at_its_end():
    schedule = _schedule(
        interval_seconds=30,
        start_at=NOON,
        end_at=NOON + timedelta(seconds=60),
        next_fire_at=NOON,
    )
    for second in (0, 30, 60, 90):
        fire_due_schedules("default", now=NOON + timedelta(seconds=second))
    assert _fired(schedule) == [NOON + timedelta(seconds=s) for s in (0, 30, 60)]
    schedule.refresh_from_db()
    assert schedule.next_fire_at is None


def test_a_berlin_0230_job_fires_at_0330_on_the_spring_change_and_goes_back_to_0230():
    spring = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)
    schedule = _schedule(
        "nightly", cron="30 2 * * *", timezone="Europe/Berlin", next_fire_at=spring
    )
    fire_due_schedules("default", now=spring + timedelta(seconds=1))
    assert _fired(schedule) == [spring]
    schedule.refresh_from_db()
    assert schedule.next_fire_at == datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)


def test_a_berlin_0230_job_fires_once_on_the_autumn_change():
    # CEST, fold 0; in UTC, since a time of a repeated hour never equals one of another zone.
    first_pass = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN).astimezone(UTC)
    schedule = _schedule(
        "nightly", cron="30 2 * * *", timezone="Europe/Berlin", next_fire_at=first_pass
    )
    for hours in (0, 1, 2):  # 02:30 CEST, 02:30 CET, 03:30 CET
        fire_due_schedules("default", now=first_pass + timedelta(hours=hours, seconds=1))
    assert _fired(schedule) == [first_pass]


def test_a_disabled_schedule_does_not_fire_and_starts_from_now_when_enabled_again():
    schedule = _schedule(cron="0 0 1 1 *", next_fire_at=NOON - timedelta(days=2))
    schedule.enabled = False
    schedule.save()
    assert fire_due_schedules("default").items == {}
    schedule.enabled = True
    schedule.save()
    assert fire_due_schedules("default").items == {}  # no catch-up for the time it was off
    assert schedule.next_fire_at is not None and schedule.next_fire_at > NOON


def test_fire_now_makes_an_item_and_leaves_the_timing_alone():
    schedule = _schedule(next_fire_at=NOON + timedelta(days=1))
    item = fire_now(schedule)
    assert item.schedule_id == schedule.pk and item.status == "queued"
    schedule.refresh_from_db()
    assert schedule.next_fire_at == NOON + timedelta(days=1)
    assert schedule.last_fired_at == item.scheduled_for


def test_a_schedule_that_cannot_enqueue_records_why_and_the_others_still_fire():
    broken = _schedule("broken", next_fire_at=NOON)
    Schedule.objects.filter(pk=broken.pk).update(alias="NoSuchTask")
    working = _schedule("working", next_fire_at=NOON)
    report = fire_due_schedules("default", now=NOON)
    assert list(report.items) == ["working"]
    broken.refresh_from_db()
    assert "NoSuchTask" in broken.last_error
    assert broken.next_fire_at == NOON + timedelta(minutes=1)  # it tries again next time
    assert _fired(working) == [NOON]


def test_a_schedule_whose_times_cannot_be_worked_out_stops_until_saved():
    broken = _schedule("broken", next_fire_at=NOON)
    Schedule.objects.filter(pk=broken.pk).update(cron="not a cron")
    _schedule("working", next_fire_at=NOON)
    report = fire_due_schedules("default", now=NOON)
    assert list(report.items) == ["working"] and "broken" in report.errors
    broken.refresh_from_db()
    assert broken.next_fire_at is None and broken.last_error.startswith("Stopped")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 2 * * *", "interval_seconds": 60}, "cron"),
        ({"cron": "", "interval_seconds": None}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"alias": "NoSuchTask"}, "alias"),
        ({"misfire": "sometimes"}, "misfire"),
        ({"start_at": NOON, "end_at": NOON}, "end_at"),
        ({"queue_name": "no spaces"}, "queue_name"),
    ],
)
def test_bad_fields_are_form_errors_on_their_field(fields, field):
    values = {"name": "bad", "alias": "Record", "cron": "* * * * *", **fields}
    with pytest.raises(ValidationError) as caught:
        Schedule(**values).full_clean()
    assert field in caught.value.message_dict
    assert not Schedule.objects.exists()


DECLARED = {
    "nightly-report": {
        "alias": "Record",
        "cron": "0 2 * * *",
        "timezone": "Europe/Berlin",
        "parameters": {"value": "report"},
    },
    "heartbeat": {"alias": "Record", "interval_seconds": 30, "misfire": "skip"},
}


def test_declared_schedules_are_created_and_then_belong_to_operators():
    with override_settings(TASKQUEUE={"SCHEDULES": DECLARED}):
        report = sync_schedules("default")
        assert sorted(report.created) == ["heartbeat", "nightly-report"]
        nightly = Schedule.objects.get(name="nightly-report")
        assert (nightly.zone_name, nightly.parameters) == ("Europe/Berlin", {"value": "report"})
        nightly.cron = "0 3 * * *"
        nightly.save()
        assert sorted(sync_schedules("default").kept) == ["heartbeat", "nightly-report"]
        assert Schedule.objects.get(name="nightly-report").cron == "0 3 * * *"
        sync_schedules("default", reset=True)
        assert Schedule.objects.get(name="nightly-report").cron == "0 2 * * *"


@pytest.mark.parametrize(
    "declared, says",
    [
        ({"x": {"alias": "Record", "cron": "bogus"}}, "cron"),
        ({"x": {"alias": "Record"}}, "either cron or interval_seconds"),
        ({"x": {"alias": "Record", "cron": "* * * * *", "every": 5}}, "unknown schedule field"),
        ({"x": "0 2 * * *"}, "must be a dict"),
        (["x"], "must map schedule names"),
    ],
)
def test_a_bad_declared_schedule_is_a_clear_error_and_creates_nothing(declared, says):
    with override_settings(TASKQUEUE={"SCHEDULES": declared}):
        with pytest.raises(InvalidSchedule, match=says):
            sync_schedules("default")
    assert not Schedule.objects.exists()
