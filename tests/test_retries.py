"""Retry policies: which failures are retried, after how long, and snoozes that cost nothing."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskqueue import InvalidValue, Snooze, enqueue_by_alias, handler
from django_taskqueue.models import QueueItem, TaskDefinition
from django_taskqueue.registry import unregister
from django_taskqueue.retries import RetryPolicy, retry_delay
from django_taskqueue.runner import QueueRunner
from tests.conftest import drain
from tests.taskapp import tasks
from tests.taskapp.models import Journal

# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    ("kind", "delays"),
    [
        ("exponential", [2, 4, 8, 16]),
        ("linear", [2, 4, 6, 8]),
        ("constant", [2, 2, 2, 2]),
    ],
)
def test_each_kind_of_backoff_grows_as_documented(kind, delays):
    for attempt, expected in enumerate(delays, start=1):
        seconds = retry_delay(kind, 2.0, 3600, attempt).total_seconds()
        assert expected <= seconds <= expected * 1.25  # up to 25% jitter


def test_the_cap_bounds_every_kind_and_huge_attempts_do_not_overflow():
    for kind in ("exponential", "linear", "constant", "code"):
        assert retry_delay(kind, 1e300, 10, 5000).total_seconds() <= 12.5


def test_a_backoff_function_is_used_and_a_broken_one_falls_back_to_exponential():
    assert 3 <= retry_delay("code", 1, 3600, 3, lambda attempt: attempt).total_seconds() <= 3.75
    for broken in (
        lambda a: 1 / 0,
        lambda a: math.nan,
        lambda a: -1,
        lambda a: "x",
        lambda a: 10**400,
    ):
        assert 4 <= retry_delay("code", 1, 3600, 3, broken).total_seconds() <= 5


def test_give_up_on_wins_over_retry_on():
    policy = RetryPolicy(retry_on=(OSError,), give_up_on=(FileNotFoundError,))
    assert policy.retries(ConnectionError)  # an OSError
    assert not policy.retries(FileNotFoundError)
    assert not policy.retries(KeyError)
    assert RetryPolicy().retries(KeyError)


@pytest.mark.parametrize(
    "options",
    [
        {"retry_on": "ValueError"},
        {"give_up_on": (ValueError, 3)},
        {"backoff": "fibonacci"},
        {"max_backoff_seconds": -1},
        {"max_backoff_seconds": math.inf},
        {"unique_while": "always"},
        {"unique_for": "10x"},
        {"unique_for": 0},
        {"unique_for": -5},
        {"unique_for": "0s"},
    ],
)
def test_bad_policy_options_are_refused_at_import(options):
    with pytest.raises(InvalidValue):
        handler("BadPolicy", **options)


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, "10", 10**400])
def test_a_snooze_of_a_bad_length_is_refused(seconds):
    with pytest.raises(InvalidValue):
        Snooze(seconds)


@pytest.mark.django_db
def test_the_definition_row_takes_the_kind_of_backoff_and_its_cap():
    try:
        handler("LinearBackoff", backoff="linear", max_backoff_seconds=60)(lambda: None)
        handler("CodeBackoff", backoff=lambda attempt: 1.0)(lambda: None)
        enqueue_by_alias("LinearBackoff")
        enqueue_by_alias("CodeBackoff")
        rows = {d.alias: d for d in TaskDefinition.objects.all()}
        assert (
            rows["LinearBackoff"].retry_backoff,
            rows["LinearBackoff"].retry_backoff_max_seconds,
        ) == ("linear", 60)
        assert rows["CodeBackoff"].retry_backoff == "code"
    finally:
        unregister("LinearBackoff")
        unregister("CodeBackoff")


# --------------------------------------------------------------------------- a real runner


def journal(item: QueueItem) -> int:
    return Journal.objects.filter(item_id=item.pk).count()


@pytest.mark.django_db(transaction=True)
def test_a_snooze_puts_the_item_back_without_spending_an_attempt():
    item = enqueue_by_alias("SnoozesTwice")  # max_attempts=1: a counted snooze would fail it
    drain()
    item.refresh_from_db()
    assert (item.status, item.output, item.attempts) == ("success", 3, 1)
    assert journal(item) == 3
    assert [a.outcome for a in item.attempt_log.all()] == ["success"]
    assert item.details.count("Snoozed for 0 s") == 2


@pytest.mark.django_db(transaction=True)
def test_a_snooze_moves_run_at():
    item = enqueue_by_alias("SnoozesTwice", {"seconds": 600})
    before = timezone.now()
    QueueRunner(["tests"], burst=True, interval=0.05).run()
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("queued", 0)
    assert before + timedelta(seconds=599) <= item.run_at <= timezone.now() + timedelta(seconds=600)
    assert not item.attempt_log.exists()


@pytest.mark.django_db(transaction=True)
def test_give_up_on_fails_at_once_and_other_errors_are_retried():
    value = enqueue_by_alias("GivesUpOnValueError", {"kind": "value"})
    key = enqueue_by_alias("GivesUpOnValueError", {"kind": "key"})
    TaskDefinition.objects.filter(alias="GivesUpOnValueError").update(retry_backoff_seconds=0)
    drain()
    value.refresh_from_db()
    key.refresh_from_db()
    assert (value.status, value.attempts, journal(value)) == ("failed", 1, 1)
    assert (key.status, key.attempts, journal(key)) == ("failed", 3, 3)


@pytest.mark.django_db(transaction=True)
def test_retry_on_retries_only_the_listed_errors():
    timeout = enqueue_by_alias("RetriesOnlyTimeouts", {"kind": "timeout"})
    key = enqueue_by_alias("RetriesOnlyTimeouts", {"kind": "key"})
    drain()
    timeout.refresh_from_db()
    key.refresh_from_db()
    assert (timeout.status, timeout.attempts) == ("failed", 3)
    assert [a.outcome for a in timeout.attempt_log.all()] == ["retry", "retry", "failed"]
    assert (key.status, key.attempts) == ("failed", 1)
    assert key.last_error_class == "builtins.KeyError"


@pytest.mark.django_db(transaction=True)
def test_the_handlers_backoff_function_decides_the_wait():
    tasks.BACKOFF_CALLS.clear()
    item = enqueue_by_alias("OwnBackoff")
    drain()
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("failed", 3)
    assert tasks.BACKOFF_CALLS == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_broken_backoff_function_still_retries(caplog):
    item = enqueue_by_alias("BrokenBackoff")
    drain()
    item.refresh_from_db()
    assert (item.status, item.attempts) == ("failed", 2)
    assert any("Backoff function" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_operators_can_switch_the_kind_of_backoff():
    item = enqueue_by_alias("OwnBackoff")
    TaskDefinition.objects.filter(alias="OwnBackoff").update(
        retry_backoff="constant", retry_backoff_seconds=0.01
    )
    tasks.BACKOFF_CALLS.clear()
    drain()
    item.refresh_from_db()
    assert item.status == "failed" and tasks.BACKOFF_CALLS == []  # the function is not asked
