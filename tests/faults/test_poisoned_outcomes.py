"""A runner survives whatever a handler returns, raises or logs (issue 9), on both databases.

In-process runners (``burst=True``) against the real test database: each test poisons one item
and checks that it gets an outcome saying what happened, that the items around it succeed, and
that ``--burst`` comes back. The real-process version, 2,000 items on three queues, is
``test_poison.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue import execution as execution_module
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner, TaskDefinition
from django_taskqueue.runner import QueueRunner
from django_taskqueue.runner import pool as pool_module
from django_taskqueue.store import Outcome, get_store
from django_taskqueue.validation import MAX_SECONDS
from tests.taskapp.tasks import UNSTORABLE_OUTPUT

pytestmark = pytest.mark.django_db(transaction=True)

REPLACED_NOTE = "were replaced by U+FFFD"


def burst(*queues: str, **kwargs) -> int:
    """One burst run; the exit code. Fails the test if it does not come back (a stall)."""
    queue_names = list(queues or ("poison", "tests"))
    return QueueRunner(queue_names, burst=True, interval=0.05, **kwargs).run()


def healthy(count: int = 5) -> list[int]:
    return enqueue_many("Record", [{"value": n} for n in range(count)])


def assert_all_succeeded(ids: list[int]) -> None:
    statuses = set(QueueItem.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {QueueItem.Status.SUCCESS}


def assert_no_outage_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert "Database unavailable" not in caplog.text
    assert "Runner error" not in caplog.text


@pytest.mark.parametrize("kind", ["nul", "surrogate"])
def test_a_log_line_that_cannot_be_stored_is_stored_replaced_and_says_so(kind, caplog):
    before = healthy()
    item = enqueue_by_alias("LogsUnstorable", {"kind": kind})
    after = healthy()
    assert burst() == 0
    item.refresh_from_db()
    assert item.status == QueueItem.Status.SUCCESS
    assert "before " in item.details and "\ufffd" in item.details and "\x00" not in item.details
    assert REPLACED_NOTE in item.details
    assert_all_succeeded(before + after)
    assert_no_outage_logged(caplog)


@pytest.mark.parametrize("kind", ["nul", "surrogate"])
def test_an_error_that_cannot_be_stored_fails_its_item_readably(kind, caplog):
    before = healthy()
    item = enqueue_by_alias("RaisesUnstorable", {"kind": kind})
    after = healthy()
    assert burst() == 0
    item.refresh_from_db()
    assert item.status == QueueItem.Status.FAILED
    assert "ValueError: bad " in item.last_error and "\ufffd" in item.last_error
    assert REPLACED_NOTE in item.details
    (attempt,) = item.attempt_log.all()
    assert attempt.outcome == QueueItemAttempt.Outcome.FAILED and "\ufffd" in attempt.error
    assert_all_succeeded(before + after)
    assert_no_outage_logged(caplog)


def test_an_exception_whose_str_fails_is_still_recorded():
    item = enqueue_by_alias("RaisesUnprintable")
    assert burst() == 0
    item.refresh_from_db()
    assert item.status == QueueItem.Status.FAILED
    assert "_Unprintable" in item.last_error


@pytest.mark.parametrize("kind", sorted(UNSTORABLE_OUTPUT))
def test_output_that_is_not_storable_json_fails_the_item_without_retries(kind, caplog):
    before = healthy()
    item = enqueue_by_alias("ReturnsUnstorable", {"kind": kind})
    assert burst() == 0
    item.refresh_from_db()
    assert item.status == QueueItem.Status.FAILED
    assert item.attempts == 1  # the same code would return the same value again
    assert "Handler returned a value that is not JSON" in item.last_error
    assert item.output is None
    assert_all_succeeded(before)
    assert_no_outage_logged(caplog)


@pytest.mark.parametrize(
    ("backoff", "status"),
    [
        ({"retry_backoff_seconds": 1e300}, "queued"),
        ({"retry_backoff_max_seconds": 1e300, "retry_backoff_seconds": 1e300}, "queued"),
        # Not a usable number of seconds: no delay at all, so both attempts run in the burst.
        ({"retry_backoff_seconds": float("inf"), "retry_backoff_max_seconds": 1e300}, "failed"),
        ({"retry_backoff_seconds": -5.0, "retry_backoff_max_seconds": -1.0}, "failed"),
    ],
    ids=["base-1e300", "cap-1e300", "infinite", "negative"],
)
def test_a_backoff_written_past_the_rules_gives_a_bounded_retry(backoff, status):
    """Operators' forms refuse these values now; rows written behind their back must not
    break the runner either (``0.0 * 2**1024``-style overflow killed its worker thread)."""
    item = enqueue_by_alias("AlwaysFails", queue_name="poison")
    TaskDefinition.objects.filter(alias="AlwaysFails").update(**backoff)
    started = timezone.now()
    assert burst() == 0
    item.refresh_from_db()
    assert item.status == status
    assert item.attempts == (1 if status == "queued" else 2)
    assert "always fails" in item.last_error
    assert started <= item.run_at <= timezone.now() + timedelta(seconds=MAX_SECONDS * 1.25)


def test_an_item_past_a_thousand_attempts_keeps_retrying_then_fails():
    """``max_attempts`` over 1024: the exponent of the backoff no longer overflows."""
    item = enqueue_by_alias("FailsForever")
    QueueItem.objects.filter(pk=item.pk).update(attempts=1097)
    assert burst() == 0
    item.refresh_from_db()
    assert (item.status, item.attempts) == (QueueItem.Status.FAILED, 1100)
    assert "fails on every attempt" in item.last_error


def test_definition_values_written_past_the_rules_do_not_break_timeouts():
    item = enqueue_by_alias("Record", {"value": 1})
    TaskDefinition.objects.filter(alias="Record").update(timeout_seconds=float("nan"))
    assert burst("tests") == 0
    item.refresh_from_db()
    assert item.status == QueueItem.Status.SUCCESS


def test_an_outcome_the_database_refuses_fails_only_its_own_item(monkeypatch, caplog):
    """Output JSON that the database refuses (here: text that is not JSON, which no check of
    ours would let through) stands for any refusal: the batch is written one outcome at a
    time, the refused one fails its item with the reason, and it is not an outage."""
    real_encode = execution_module.encode_output

    def encode(result):
        poisoned = isinstance(result, dict) and result.get("value") == "poison"
        return "{not json" if poisoned else real_encode(result)

    monkeypatch.setattr(execution_module, "encode_output", encode)
    before = healthy()
    poisoned = enqueue_by_alias("Record", {"value": "poison"})
    after = healthy()
    with caplog.at_level(logging.ERROR, logger="django_taskqueue"):
        assert burst("tests") == 0
    poisoned.refresh_from_db()
    assert poisoned.status == QueueItem.Status.FAILED
    assert "could not be stored" in poisoned.last_error
    assert_all_succeeded(before + after)
    assert "Could not store the outcome of item" in caplog.text
    assert "Database unavailable" not in caplog.text


def test_record_outcomes_one_by_one_writes_the_good_and_fails_the_refused():
    ids = healthy(3)
    Runner.objects.create(id="r1", hostname="host", pid=1, concurrency=1)
    QueueItem.objects.filter(pk__in=ids).update(status="running", runner_id="r1")
    now = timezone.now()
    outcomes = [
        Outcome(ids[0], "success", 1, "success", now, now, output_json='{"ok":1}'),
        Outcome(ids[1], "success", 1, "success", now, now, output_json="{not json"),
        Outcome(ids[2], "success", 1, "success", now, now, output_json="2"),
    ]
    pending = list(outcomes)
    get_store().record_outcomes_one_by_one(pending, "r1", "host:1")
    assert pending == []
    items = QueueItem.objects.in_bulk(ids)
    assert (items[ids[0]].status, items[ids[0]].output) == ("success", {"ok": 1})
    assert items[ids[1]].status == "failed" and "could not be stored" in items[ids[1]].last_error
    assert (items[ids[2]].status, items[ids[2]].output) == ("success", 2)


def test_an_error_in_the_runners_own_code_fails_that_item_and_the_thread_lives_on(
    monkeypatch, caplog
):
    """A fault injected around the handler call (not in it): the item fails with the
    traceback, and with one worker thread every later item still runs."""
    real_execute = pool_module.execute

    def execute(item, *args, **kwargs):
        if item.decoded_parameters().get("value") == "poison":
            raise RuntimeError("injected fault in the runner")
        return real_execute(item, *args, **kwargs)

    monkeypatch.setattr(pool_module, "execute", execute)
    poisoned = enqueue_by_alias("Record", {"value": "poison"})
    after = healthy()
    assert burst("tests", concurrency=1) == 0
    poisoned.refresh_from_db()
    assert poisoned.status == QueueItem.Status.FAILED
    assert "Runner error around this item" in poisoned.last_error
    assert "injected fault in the runner" in poisoned.last_error
    assert_all_succeeded(after)


def test_parameters_written_past_the_rules_fail_their_item_only():
    bad = enqueue_by_alias("Record", {"value": 1})
    QueueItem.objects.filter(pk=bad.pk).update(parameters=[1, 2, 3])
    after = healthy()
    assert burst("tests") == 0
    bad.refresh_from_db()
    assert bad.status == QueueItem.Status.FAILED
    assert "not an object" in bad.last_error and bad.attempts == 1
    assert_all_succeeded(after)


@pytest.mark.parametrize(
    "values",
    [[1e20, 1.5e300, 5e-324, 1e-7, 123.0, 0.1, -2.5e-10], [1.7976931348623157e308]],
    ids=["mixed", "max"],
)
def test_floats_in_output_read_back_as_the_same_floats(values):
    item = enqueue_by_alias("ReturnsFloats", {"values": values})
    assert burst() == 0
    item.refresh_from_db()
    assert item.parameters == {"values": values}
    assert item.output == values
    assert all(isinstance(value, float) for value in item.output)
