"""Scenario 5: handlers that misbehave in every way we could think of, among healthy items."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, QueueItemAttempt
from tests.taskapp.models import Journal

from .conftest import assert_alive, enqueue_drain, journal_counts, report, scaled, wait_drained

# alias, parameters, text the item's last_error must contain, outcome of the last attempt
POISON = [
    ("AlwaysFails", {}, "ValueError: this handler always fails", "failed"),
    ("Sleeper", {"seconds": 30}, "Timed out after 0.5 s", "timeout"),
    ("HangsInC", {"seconds": 60}, "Timed out after 0.5 s", "timeout"),
    ("HogsMemory", {"megabytes": 64}, "MemoryError", "failed"),
    ("ReturnsSet", {}, "Handler returned a value that is not JSON (set)", "failed"),
    ("Exits", {}, "SystemExit: 3", "failed"),
    ("BrokenImport", {}, "cannot be imported", "failed"),
]


@pytest.mark.django_db(transaction=True)
def test_poison_items_fail_clearly_and_the_runner_keeps_draining(run_faults, stopwatch):
    """Each poison item ends ``failed`` with an error that names what happened; the runner
    stays up, every healthy item around them succeeds once, and SIGTERM still exits 0 even
    with a handler thread stuck in C code."""
    healthy = enqueue_drain(scaled(60), seconds=0.01)
    poison = {
        enqueue_by_alias(alias, params, queue_name="faults").pk: (alias, error, outcome)
        for alias, params, error, outcome in POISON
    }
    healthy += enqueue_drain(scaled(60), seconds=0.01)
    runner = run_faults("--concurrency", "4")

    wait_drained(timeout=60)

    assert_alive([runner])
    items = QueueItem.objects.in_bulk(list(poison))
    for item_id, (alias, error, outcome) in poison.items():
        item = items[item_id]
        assert item.status == QueueItem.Status.FAILED, (alias, item.status)
        assert error in item.last_error, (alias, item.last_error)
        last_attempt = QueueItemAttempt.objects.filter(item_id=item_id).last()
        assert last_attempt.outcome == outcome, alias
    assert journal_counts(healthy) == {item_id: 1 for item_id in healthy}
    assert set(QueueItem.objects.filter(pk__in=healthy).values_list("status", flat=True)) == {
        QueueItem.Status.SUCCESS
    }
    # The Python loop was interrupted; the C sleep was abandoned and has not come back.
    sleeper, hanger = (pk for pk, (alias, *_) in poison.items() if alias in ("Sleeper", "HangsInC"))
    assert not Journal.objects.filter(item_id=sleeper).exists()
    assert list(Journal.objects.filter(item_id=hanger).values_list("note", flat=True)) == ["start"]

    runner.signal(signal.SIGTERM)
    assert runner.wait(timeout=20) == 0, runner.output()
    report("poison", poison_items=len(poison), healthy_items=len(healthy), seconds=stopwatch())
