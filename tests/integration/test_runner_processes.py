"""Real ``runqueue`` processes, real signals, real database."""

import signal
import time

import pytest
from django.db import connection, transaction
from django.db.models import F

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner
from django_taskqueue.runner.wakeup import SqliteChangeWatcher
from tests.conftest import wait_for
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True)


def all_finished(count: int) -> bool:
    return QueueItem.objects.filter(status="success").count() == count


def test_concurrent_runners_run_every_item_exactly_once(start_runner):
    runners = [start_runner("tests", "--concurrency", "4", "--interval", "0.05") for _ in range(3)]
    # All three up before there is work: otherwise the first to start may drain it alone
    # while the others are still importing Django, and "shared" would be luck.
    wait_for(lambda: Runner.objects.filter(stopped_at__isnull=True).count() == 3, timeout=60)
    items = []
    for priority in (-1, 0, 5):
        items += enqueue_many("Record", [{"value": n} for n in range(200)], priority=priority)
    wait_for(lambda: all_finished(600), timeout=120)
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    per_item = Journal.objects.values_list("item_id", flat=True)
    assert sorted(per_item) == sorted(items)
    assert len(set(Journal.objects.values_list("pid", flat=True))) >= 2  # the work was shared


def test_kill_9_mid_item_loses_nothing(start_runner):
    item = enqueue_by_alias("SlowRecord", {"seconds": 3})
    first = start_runner("tests", "--unstuck-minutes", "0.03", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(item_id=item.pk, note="start").exists())
    first.signal(signal.SIGKILL)
    first.wait()
    item.refresh_from_db()
    assert item.status == "running"  # orphaned: its runner is gone
    second = start_runner("tests", "--unstuck-minutes", "0.03", "--interval", "0.1")
    wait_for(lambda: all_finished(1), timeout=60)
    item.refresh_from_db()
    assert item.attempts == 2
    assert list(item.attempt_log.values_list("outcome", flat=True)) == ["lost", "success"]
    assert Journal.objects.filter(item_id=item.pk, note="start").count() == 2
    assert Journal.objects.filter(item_id=item.pk, note="end").count() == 1
    second.signal(signal.SIGTERM)
    assert second.wait() == 0


def test_sigterm_lets_in_flight_items_finish_and_exits_0(start_runner):
    items = enqueue_many("SlowRecord", [{"seconds": 1.5}] * 6)
    runner = start_runner("tests", "--concurrency", "2", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(note="start").count() == 2)
    runner.signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 0, runner.output()
    statuses = sorted(QueueItem.objects.values_list("status", flat=True))
    assert statuses == ["queued"] * 4 + ["success"] * 2
    assert Journal.objects.filter(note="end").count() == 2
    assert Runner.objects.get().stopped_at is not None
    assert "finishing in-flight items" in runner.output()
    assert len(items) == 6


def test_second_signal_forces_exit_and_puts_unfinished_items_back(start_runner):
    enqueue_many("SlowRecord", [{"seconds": 20}] * 2)
    runner = start_runner("tests", "--concurrency", "2", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(note="start").count() == 2)
    runner.signal(signal.SIGTERM)
    wait_for(lambda: "finishing in-flight items" in runner.output())
    runner.signal(signal.SIGINT)
    assert runner.wait(timeout=15) == 0, runner.output()
    items = list(QueueItem.objects.values_list("status", "attempts", "runner"))
    assert items == [("queued", 0, None)] * 2  # back in the queue, attempt not spent


def test_grace_period_expiry_releases_what_is_left(start_runner):
    enqueue_by_alias("SlowRecord", {"seconds": 20})
    runner = start_runner("tests", "--grace-seconds", "0.5", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(note="start").exists())
    runner.signal(signal.SIGTERM)
    assert runner.wait(timeout=15) == 0
    assert list(QueueItem.objects.values_list("status", flat=True)) == ["queued"]
    assert "Put 1 unfinished item(s) back" in runner.output()


def test_idle_runner_wakes_on_commit(start_runner):
    """The runner polls and heartbeats only every 60 s here, so only a wake-up runs the items:
    NOTIFY on PostgreSQL, the data_version watcher on SQLite."""
    runner = start_runner(
        "tests", "--interval", "60", env={"TASKQUEUE_TEST_HEARTBEAT_SECONDS": "60"}
    )
    wait_for(lambda: "started on queue" in runner.output())
    assert (SqliteChangeWatcher.database_path("default") is not None) is (
        connection.vendor == "sqlite"
    )
    for _ in range(3):
        enqueue_by_alias("Record", {})
    wait_for(lambda: all_finished(3), timeout=20)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0


def test_a_stall_longer_than_the_unstuck_window_does_not_take_live_runners_items(start_runner):
    """Runners that could not heartbeat through a database stall are alive, not lost."""
    enqueue_many("SlowRecord", [{"seconds": 6}] * 2)
    args = ("tests", "--concurrency", "1", "--unstuck-minutes", "0.05", "--interval", "0.1")
    runners = [start_runner(*args) for _ in range(2)]
    wait_for(lambda: Journal.objects.filter(note="start").count() == 2)
    with transaction.atomic():  # blocks every heartbeat for longer than the 3 s window
        Runner.objects.update(concurrency=F("concurrency"))
        time.sleep(4)
    wait_for(lambda: all_finished(2), timeout=60)
    assert not QueueItemAttempt.objects.filter(outcome="lost").exists()
    assert Journal.objects.filter(note="start").count() == 2  # each item ran once
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0


def test_bad_command_line_arguments_exit_with_a_clear_message(start_runner):
    runner = start_runner("bad queue!")
    assert runner.wait() != 0
    assert "Invalid queue name" in runner.output()
    assert "Traceback" not in runner.output()
    runner = start_runner("tests", "--concurrency", "0")
    assert runner.wait() != 0
    assert "concurrency 0 is out of range" in runner.output()


def test_canceling_a_running_item_stops_its_handler(start_runner):
    item = enqueue_by_alias("Cooperative", {"seconds": 60})
    runner = start_runner("tests", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(item_id=item.pk, note="start").exists())
    item.refresh_from_db()
    assert item.cancel() == "cancel requested"
    wait_for(lambda: QueueItem.objects.get(pk=item.pk).status == "canceled", timeout=20)
    item.refresh_from_db()
    assert "Canceled by an operator" in item.last_error
    assert list(item.attempt_log.values_list("outcome", flat=True)) == ["canceled"]
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0


def test_a_handler_that_catches_exception_is_still_canceled(start_runner):
    """The cancel is a ``TaskInterrupt``, a ``BaseException``: ``except Exception`` in the
    handler does not swallow it."""
    item = enqueue_by_alias("SwallowsErrorsUntilCanceled", {"seconds": 60})
    runner = start_runner("tests", "--interval", "0.1")
    wait_for(lambda: Journal.objects.filter(item_id=item.pk, note="start").exists())
    item.refresh_from_db()
    assert item.cancel() == "cancel requested"
    wait_for(lambda: QueueItem.objects.get(pk=item.pk).status == "canceled", timeout=20)
    item.refresh_from_db()
    assert item.last_error_class == "django_taskqueue.exceptions.TaskCanceled"
    time.sleep(0.3)  # time for a swallowed interrupt to show
    notes = list(Journal.objects.filter(item_id=item.pk).values_list("note", flat=True))
    assert notes == ["start"]
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0


def test_canceling_a_running_async_handler_cancels_it_at_its_await(start_runner, tmp_path):
    marker = tmp_path / "marker"
    item = enqueue_by_alias("AsyncWaiter", {"seconds": 60, "marker": str(marker)})
    runner = start_runner("tests", "--interval", "0.1")
    wait_for(lambda: marker.exists() and marker.read_text() == "awaiting")
    item.refresh_from_db()
    assert item.cancel() == "cancel requested"
    wait_for(lambda: QueueItem.objects.get(pk=item.pk).status == "canceled", timeout=10)
    assert marker.read_text() == "canceled at its await"
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0


def test_snoozes_and_retry_policies_in_a_runner_process(start_runner):
    snoozing = enqueue_by_alias("SnoozesTwice", {"seconds": 0.2})
    given_up = enqueue_by_alias("GivesUpOnValueError", {"kind": "value"})
    not_listed = enqueue_by_alias("RetriesOnlyTimeouts", {"kind": "key"})
    listed = enqueue_by_alias("RetriesOnlyTimeouts", {"kind": "timeout"})
    runner = start_runner("tests", "--interval", "0.05")

    def finished() -> bool:
        return not QueueItem.objects.filter(status__in=["queued", "running"]).exists()

    wait_for(finished, timeout=60)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()
    items = QueueItem.objects.in_bulk([snoozing.pk, given_up.pk, not_listed.pk, listed.pk])
    assert (items[snoozing.pk].status, items[snoozing.pk].attempts) == ("success", 1)
    assert (items[given_up.pk].status, items[given_up.pk].attempts) == ("failed", 1)
    assert (items[not_listed.pk].status, items[not_listed.pk].attempts) == ("failed", 1)
    assert (items[listed.pk].status, items[listed.pk].attempts) == ("failed", 3)
    assert "attempt 1/3 failed" in runner.output() and "not retried" in runner.output()
