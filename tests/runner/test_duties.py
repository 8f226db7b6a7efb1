"""Periodic duties: each on its own interval, a failing one retried after its interval."""

import time

import pytest

from django_taskqueue.runner.duties import Duties, Duty


def test_each_duty_runs_on_its_own_interval():
    runs: list[str] = []
    duties = Duties(
        Duty("fast", 0.05, lambda: runs.append("fast")),
        Duty("slow", 10.0, lambda: runs.append("slow")),
    )
    duties.run_due()
    assert runs == ["fast", "slow"]  # everything is due at the first tick
    duties.run_due()
    assert runs == ["fast", "slow"]  # nothing due yet
    assert 0 < duties.seconds_until_next() <= 0.05
    time.sleep(0.06)
    duties.run_due()
    assert runs == ["fast", "slow", "fast"]


def test_a_duty_that_fails_is_not_retried_on_every_tick():
    calls = []

    def failing() -> None:
        calls.append(1)
        raise ConnectionError("database gone")

    later = []
    duties = Duties(Duty("heartbeat", 10.0, failing), Duty("later", 10.0, lambda: later.append(1)))
    with pytest.raises(ConnectionError):
        duties.run_due()
    duties.run_due()  # the heartbeat waits for its interval; the next duty gets its turn
    assert calls == [1] and later == [1]


def test_no_duties_never_wake_anyone():
    assert Duties().seconds_until_next() == float("inf")


def test_a_failed_duty_with_retry_after_is_tried_again_that_soon():
    """The schedules duty looks every 15 s, but after an outage it must not miss a
    once-a-second schedule's fire times for that long."""
    calls = []

    def fire() -> None:
        calls.append(time.monotonic())
        raise ConnectionError("the database went away")

    duties = Duties(Duty("schedules", 15.0, fire, retry_after=0.05))
    with pytest.raises(ConnectionError):
        duties.run_due()
    assert duties.seconds_until_next() <= 0.05
    time.sleep(0.06)
    with pytest.raises(ConnectionError):
        duties.run_due()
    assert len(calls) == 2
