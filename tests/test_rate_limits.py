"""Rate limits: at most N attempts started in any sliding window, on a definition or a queue,
across every runner; items held back stay queued without spending an attempt."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import InvalidValue, enqueue_many, handler
from django_taskqueue.limits import check_rate_limit, parse_rate
from django_taskqueue.models import LimitStart, QueueItem, QueueState, TaskDefinition
from tests.conftest import drain, wait_for
from tests.taskapp.tasks import journal_times, most_at_once, most_started_within

pytestmark = pytest.mark.django_db(transaction=True)


def _all_succeeded_once(ids: list[int]) -> None:
    rows = QueueItem.objects.filter(pk__in=ids)
    assert set(rows.values_list("status", "attempts")) == {("success", 1)}


def test_one_runner_starts_at_most_the_rate_in_any_window():
    ids = enqueue_many("RateLimited", [{}] * 50)
    drain(concurrency=10)
    _all_succeeded_once(ids)
    assert most_started_within(ids) <= 20
    starts = sorted(journal_times(ids).values())
    assert starts[-1] - starts[0] >= 2.0  # 50 starts at 20/s take at least two more windows


def test_four_runner_processes_together_respect_the_rate(start_runner):
    ids = enqueue_many("RateLimited", [{}] * 90)
    runners = [start_runner("tests", "--concurrency", "4", "--interval", "0.05") for _ in range(4)]
    wait_for(lambda: QueueItem.objects.filter(pk__in=ids, status="success").count() == 90, 120)
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    _all_succeeded_once(ids)
    assert most_started_within(ids) <= 20


def test_a_queue_rate_limit_counts_every_definition_of_the_queue():
    QueueState.objects.create(name="tests", rate_limit="10/s")
    ids = enqueue_many("Stamp", [{}] * 15) + enqueue_many("RateLimited", [{}] * 10)
    drain(concurrency=10)
    _all_succeeded_once(ids)
    assert most_started_within(ids) <= 10


def test_a_queue_concurrency_limit_counts_every_definition_of_the_queue():
    QueueState.objects.create(name="tests", concurrency_limit=3)
    ids = enqueue_many("Stamp", [{"sleep": 0.05}] * 12) + enqueue_many("OnePerKey", [{}] * 6)
    drain(concurrency=10)
    _all_succeeded_once(ids)
    assert most_at_once(ids) == 3


def test_operators_can_change_the_rate():
    ids = enqueue_many("RateLimited", [{}] * 30)
    TaskDefinition.objects.filter(alias="RateLimited").update(rate_limit="5/s")
    drain(concurrency=10)
    assert most_started_within(ids) <= 5


def test_the_ledger_keeps_only_the_starts_inside_a_window():
    ids = enqueue_many("RateLimited", [{}] * 45)
    drain(concurrency=10)
    _all_succeeded_once(ids)
    # Each claim prunes what has left the one-second window: at most two windows' worth.
    assert LimitStart.objects.count() <= 40


@pytest.mark.parametrize(
    "text, normal",
    [("20/s", "20/s"), (" 100 / m ", "100/m"), ("1/h", "1/h"), ("", ""), (None, "")],
)
def test_rates_are_read_and_stored_in_one_spelling(text, normal):
    assert check_rate_limit(text) == normal


@pytest.mark.parametrize(
    "text", ["20", "20/d", "0/s", "-1/s", "1.5/s", "x/s", "20/sec", 20, 2.0, True, "1000001/s"]
)
def test_a_bad_rate_is_refused_with_its_form(text):
    with pytest.raises(InvalidValue, match='"20/s"'):
        parse_rate(text)
    with pytest.raises(InvalidValue):
        handler("BadRate", rate_limit=text)


def test_a_bad_rate_in_the_admin_form_is_a_field_error():
    from django.forms import modelform_factory

    form_class = modelform_factory(TaskDefinition, fields=["rate_limit", "key_rate_limit"])
    form = form_class(data={"rate_limit": "fast", "key_rate_limit": "3/x"})
    assert not form.is_valid()
    assert set(form.errors) == {"rate_limit", "key_rate_limit"}
