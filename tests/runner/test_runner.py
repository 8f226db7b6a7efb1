"""The runner loop in-process (``burst=True``) against the real test database."""

import time

import pytest
from django.db import connection
from django.test import override_settings

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.actions import set_queue_paused
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner, TaskDefinition
from django_taskqueue.runner import QueueRunner
from django_taskqueue.store.base import ATTEMPTS
from tests.conftest import drain, wait_for
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True)


def test_success_stores_output_and_history():
    item = enqueue_by_alias("Record", {"value": [1, "two"]})
    drain()
    item.refresh_from_db()
    assert item.status == "success"
    assert item.output["value"] == [1, "two"]
    assert item.attempts == 1 and item.started_at and item.completed_at
    assert item.runner is None
    (attempt,) = item.attempt_log.all()
    assert attempt.outcome == QueueItemAttempt.Outcome.SUCCESS and attempt.number == 1
    assert Journal.objects.filter(item_id=item.pk).count() == 1
    # The item's facts /metrics reads from the attempt alone (store/stats.py).
    copied = (attempt.queue_name, attempt.definition_id, attempt.enqueued_at)
    assert copied == (item.queue_name, item.definition_id, item.created_at)


def test_priority_then_run_at_then_creation_order():
    low = enqueue_by_alias("Record", {"value": "low"}, priority=-5)
    first = enqueue_by_alias("Record", {"value": "first"})
    second = enqueue_by_alias("Record", {"value": "second"})
    high = enqueue_by_alias("Record", {"value": "high"}, priority=10)
    drain(concurrency=1)
    order = list(Journal.objects.order_by("id").values_list("item_id", flat=True))
    assert order == [high.pk, first.pk, second.pk, low.pk]


def test_items_scheduled_in_the_future_wait():
    later = enqueue_by_alias("Record", {}, delay=3600)
    now = enqueue_by_alias("Record", {})
    QueueRunner(["tests"], burst=True, interval=0.05).run()
    later.refresh_from_db()
    now.refresh_from_db()
    assert (now.status, later.status) == ("success", "queued")


def test_a_failing_handler_is_retried_with_backoff_until_it_succeeds():
    item = enqueue_by_alias("FlakyUntil", {"succeed_on": 3})
    drain()
    item.refresh_from_db()
    assert item.status == "success" and item.attempts == 3
    outcomes = list(item.attempt_log.values_list("outcome", flat=True))
    assert outcomes == ["retry", "retry", "success"]
    starts = list(
        Journal.objects.filter(item_id=item.pk).order_by("id").values_list("created_at", flat=True)
    )
    # Backoff base 0.1 s doubles: the second gap is at least 0.2 s.
    assert (starts[2] - starts[1]).total_seconds() >= 0.2


def test_exhausted_attempts_fail_with_the_traceback_kept():
    item = enqueue_by_alias("AlwaysFails")
    drain()
    item.refresh_from_db()
    assert item.status == "failed" and item.attempts == 2
    assert "Traceback" in item.last_error and "this handler always fails" in item.last_error
    assert Journal.objects.filter(item_id=item.pk).count() == 2


def test_timeout_is_enforced_and_recorded_as_a_failure():
    item = enqueue_by_alias("Sleeper", {"seconds": 30})
    started = time.monotonic()
    drain()
    item.refresh_from_db()
    assert item.status == "failed"
    assert "Timed out after 0.5 s" in item.last_error
    assert item.attempt_log.get().outcome == "timeout"
    assert time.monotonic() - started < 10
    assert not Journal.objects.filter(item_id=item.pk).exists()  # interrupted before the end


def test_a_handler_that_catches_exception_is_still_timed_out():
    """The timeout is a ``TaskInterrupt``, a ``BaseException``: ``except Exception`` around
    the handler's work does not swallow it (it did when TaskTimeout was an Exception)."""
    item = enqueue_by_alias("SwallowsErrors", {"seconds": 30})
    started = time.monotonic()
    drain()
    item.refresh_from_db()
    assert item.status == "failed" and item.attempt_log.get().outcome == "timeout"
    assert item.last_error_class == "django_taskqueue.exceptions.TaskTimeout"
    assert time.monotonic() - started < 10
    time.sleep(0.3)  # time for a swallowed interrupt to show
    assert list(Journal.objects.filter(item_id=item.pk).values_list("note", flat=True)) == ["start"]


def test_failures_keep_the_class_and_message_apart_from_the_traceback():
    item = enqueue_by_alias("AlwaysFails")
    drain()
    item.refresh_from_db()
    assert item.last_error_class == "builtins.ValueError"
    assert item.last_error_message == "this handler always fails"
    assert item.last_error.startswith("Traceback (most recent call last):")
    attempts = list(item.attempt_log.values_list("error_class", "error_message"))
    assert attempts == [("builtins.ValueError", "this handler always fails")] * 2


def test_an_async_handler_past_its_timeout_is_canceled_at_its_await(tmp_path):
    """An event loop idle in select() runs no bytecode for the interrupt to land on; the
    handler must still be stopped promptly, not when its 30 s sleep ends."""
    marker = tmp_path / "marker"
    item = enqueue_by_alias("AsyncSleeper", {"seconds": 30, "marker": str(marker)})
    drain()
    item.refresh_from_db()
    assert item.status == "failed" and "Timed out after 0.5 s" in item.last_error
    wait_for(lambda: marker.read_text() == "canceled at its await", timeout=5)


def test_handler_that_calls_sys_exit_fails_only_its_item():
    bad = enqueue_by_alias("Exits")
    good = enqueue_by_alias("Record")
    drain()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == "failed" and "SystemExit: 3" in bad.last_error
    assert good.status == "success"


def test_non_json_return_value_fails_with_a_clear_message():
    item = enqueue_by_alias("ReturnsSet")
    drain()
    item.refresh_from_db()
    assert item.status == "failed"
    assert "not JSON (set)" in item.last_error


def test_handler_can_append_to_details():
    item = enqueue_by_alias("Logs", {"lines": 3})
    drain()
    item.refresh_from_db()
    assert item.output == 3
    assert [line.split("] ")[1] for line in item.details.splitlines()] == [
        "line 0",
        "line 1",
        "line 2",
    ]


def test_broken_handler_import_fails_the_item_and_the_runner_keeps_going():
    broken = enqueue_by_alias("BrokenImport", {})
    good = enqueue_by_alias("Record", {}, queue_name="default")
    drain(queues=["default"])
    broken.refresh_from_db()
    good.refresh_from_db()
    assert broken.status == "failed" and broken.attempts == 1
    assert "cannot be imported" in broken.last_error and "ModuleNotFoundError" in broken.last_error
    assert good.status == "success"


def test_alias_without_a_handler_in_the_runner_fails_clearly():
    definition = TaskDefinition.objects.create(alias="GhostTask", queue_name="tests")
    item = QueueItem.objects.create(definition=definition, queue_name="tests", max_attempts=3)
    drain()
    item.refresh_from_db()
    assert item.status == "failed"
    assert "No handler is registered for alias 'GhostTask'" in item.last_error


def test_handler_path_in_the_database_is_never_imported():
    """Operators edit definitions; only code decides what runs."""
    definition = TaskDefinition.objects.create(
        alias="Sneaky", handler="os.system", queue_name="tests"
    )
    item = QueueItem.objects.create(
        definition=definition, queue_name="tests", parameters={"command": "touch /tmp/pwned"}
    )
    drain()
    item.refresh_from_db()
    assert item.status == "failed" and "No handler is registered" in item.last_error


def test_canceled_items_are_not_run_and_paused_queue_is_skipped():
    canceled = enqueue_by_alias("Record")
    canceled.cancel()

    set_queue_paused("tests", True)
    waiting = enqueue_by_alias("Record")
    QueueRunner(["tests"], burst=True, interval=0.05).run()
    waiting.refresh_from_db()
    assert waiting.status == "queued"
    set_queue_paused("tests", False)
    drain()
    waiting.refresh_from_db()
    canceled.refresh_from_db()
    assert (waiting.status, canceled.status) == ("success", "canceled")
    assert not Journal.objects.filter(item_id=canceled.pk).exists()


def test_runner_registers_and_marks_itself_stopped():
    enqueue_by_alias("Record")
    drain()
    runner = Runner.objects.get()
    assert runner.stopped_at is not None and runner.queues == ["tests"]


def test_many_items_drain_with_every_item_run_exactly_once():
    items = enqueue_many("Record", [{"value": n} for n in range(300)])
    drain(concurrency=8)
    assert QueueItem.objects.filter(status="success").count() == 300
    counts = Journal.objects.values_list("item_id", flat=True)
    assert sorted(counts) == items


@override_settings(TASKQUEUE={"COMPLETION_FLUSH_SIZE": 7, "COMPLETION_FLUSH_SECONDS": 5})
def test_outcomes_are_written_in_batches():
    enqueue_many("Noop", [{}] * 50)
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append((sql, many))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        drain(concurrency=10)
    updates = [sql for sql, _ in statements if f"INSERT INTO {ATTEMPTS}" in sql]
    assert QueueItem.objects.filter(status="success").count() == 50
    assert 2 <= len(updates) <= 20  # batched, never one statement per item
