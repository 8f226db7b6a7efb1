"""Fire times of cron and interval schedules, daylight-saving changes included, and the checks
on cron expressions and timezones (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from django_taskqueue.exceptions import InvalidValue
from django_taskqueue.schedules.timing import Timing, check_cron, check_timezone, describe

BERLIN = ZoneInfo("Europe/Berlin")


def _local(times, count: int) -> list[str]:
    return [t.astimezone(BERLIN).isoformat() for t in islice(times, count)]


def test_a_daily_job_in_berlin_fires_at_0230_wall_clock_across_the_spring_change():
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    times = daily.times_after(datetime(2026, 3, 27, 12, tzinfo=BERLIN))
    # 29 March 2026: clocks go from 02:00 CET to 03:00 CEST; 02:30 does not exist that day.
    assert _local(times, 3) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_a_daily_job_in_berlin_fires_once_across_the_autumn_change():
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    times = daily.times_after(datetime(2026, 10, 24, 12, tzinfo=BERLIN))
    # 25 October 2026: 02:00-03:00 happens twice; the job fires on the first pass only.
    assert _local(times, 2) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_a_moved_fire_time_is_found_from_inside_the_hour_after_the_change():
    daily = Timing(cron="30 2 * * *", timezone="Europe/Berlin")
    after = datetime(2026, 3, 29, 3, 10, tzinfo=BERLIN)
    assert daily.next_after(after) == datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)


def test_frequent_cron_jobs_do_not_fire_twice_when_the_clocks_go_forward():
    quarterly = Timing(cron="*/15 * * * *", timezone="Europe/Berlin")
    times = quarterly.times_after(datetime(2026, 3, 29, 1, 40, tzinfo=BERLIN))
    assert [t.astimezone(BERLIN).strftime("%H:%M") for t in islice(times, 4)] == [
        "01:45",
        "03:00",
        "03:15",
        "03:30",
    ]


def test_the_times_before_a_moment_come_newest_first_and_include_it():
    every_second = Timing(cron="* * * * * *")
    moment = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert list(islice(every_second.times_before(moment), 2)) == [
        moment,
        moment - timedelta(seconds=1),
    ]


def test_intervals_count_from_their_start_and_stop_at_their_end():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    timing = Timing(interval_seconds=10, start_at=start, end_at=start + timedelta(seconds=30))
    assert list(timing.times_after(start - timedelta(seconds=1))) == [
        start + timedelta(seconds=s) for s in (0, 10, 20, 30)
    ]
    assert list(timing.times_before(start + timedelta(seconds=25))) == [
        start + timedelta(seconds=s) for s in (20, 10, 0)
    ]


def test_a_cron_schedule_waits_for_its_start_at():
    start = datetime(2026, 5, 1, 12, tzinfo=UTC)
    hourly = Timing(cron="0 * * * *", timezone="UTC", start_at=start)
    assert hourly.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == start


@pytest.mark.parametrize(
    "timing, words",
    [
        (Timing(cron="0 2 * * *"), "At 02:00 every day"),
        (Timing(cron="*/10 * * * * *"), "Every 10 seconds"),
        (Timing(cron="30 2 * * 1-5"), "At 02:30, Monday through Friday"),
        (Timing(interval_seconds=3600), "Every hour"),
        (Timing(interval_seconds=90), "Every 90 seconds"),
    ],
)
def test_timings_are_described_in_words(timing, words):
    assert describe(timing) == words


@pytest.mark.parametrize(
    "expression, tidy",
    [(" 0   2 * * * ", "0 2 * * *"), ("@DAILY", "@daily"), ("*/5 * * * * *", "*/5 * * * * *")],
)
def test_cron_expressions_are_tidied(expression, tidy):
    assert check_cron(expression) == tidy


@pytest.mark.parametrize(
    "expression, says",
    [
        ("61 * * * *", "out of range"),
        ("* * *", "3 field(s)"),
        ("0 0 * * * * *", "7 field(s)"),
        ("@often", "unknown nickname"),
        ("", "give a cron expression"),
        (None, "give a cron expression"),
        ("a b c d e", "not a valid cron expression"),
    ],
)
def test_bad_cron_expressions_are_refused_with_the_reason(expression, says):
    with pytest.raises(InvalidValue, match="cron: ") as caught:
        check_cron(expression)
    assert says in str(caught.value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", None, 3])
def test_unknown_timezones_are_refused(name):
    with pytest.raises(InvalidValue, match="unknown timezone"):
        check_timezone(name)
