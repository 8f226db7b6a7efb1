"""Scenario 5: handlers that misbehave in every way we could think of, among healthy items."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import enqueue_by_alias, enqueue_many
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


QUEUES = ("faults", "poison", "poison-b")
# alias, parameters, text the item's last_error (or, for logs, details) must contain
POISONED_VALUES = [
    ("RaisesUnstorable", {"kind": "nul"}, "ValueError: bad a\ufffdb value"),
    ("RaisesUnstorable", {"kind": "surrogate"}, "ValueError: bad x\ufffdy value"),
    ("RaisesUnprintable", {}, "_Unprintable"),
    *(
        ("ReturnsUnstorable", {"kind": kind}, "Handler returned a value that is not JSON")
        for kind in ("nul", "surrogate", "huge_int", "nan", "deep", "object", "bytes")
    ),
    ("FailsForever", {}, "RuntimeError: fails on every attempt"),
]
POISONED_LOGS = [
    ("LogsUnstorable", {"kind": "nul"}, "before a\ufffdb after"),
    ("LogsUnstorable", {"kind": "surrogate"}, "before x\ufffdy after"),
]


@pytest.mark.django_db(transaction=True)
def test_poisoned_values_among_2000_good_items_on_three_queues(start_runner, stopwatch):
    """Issue 9's fault test: every good item succeeds, every poisoned one fails with a
    readable reason (or, for a log line that cannot be stored, succeeds with the line
    replaced and a note saying so), the runner never stops, and ``--burst`` exits 0."""
    good: list[int] = []
    poisoned: dict[int, tuple[str, str]] = {}
    logged: dict[int, str] = {}
    total = scaled(2000)
    for index, queue in enumerate(QUEUES):
        per_queue = total // len(QUEUES) + (index < total % len(QUEUES))
        good += enqueue_many("Drain", [{}] * (per_queue // 2), queue_name=queue)
        for alias, params, reason in POISONED_VALUES[index :: len(QUEUES)]:
            poisoned[enqueue_by_alias(alias, params, queue_name=queue).pk] = (alias, reason)
        for alias, params, text in POISONED_LOGS[index :: len(QUEUES)]:
            logged[enqueue_by_alias(alias, params, queue_name=queue).pk] = text
        good += enqueue_many("Drain", [{}] * (per_queue - per_queue // 2), queue_name=queue)
    # Past a thousand attempts, where 2 ** attempt no longer fits a float.
    forever = [pk for pk, (alias, _) in poisoned.items() if alias == "FailsForever"]
    QueueItem.objects.filter(pk__in=forever).update(attempts=1098)
    # Parameters that are not an object, written behind the enqueue checks' back.
    not_an_object = enqueue_by_alias("Drain", {}, queue_name="poison-b")
    QueueItem.objects.filter(pk=not_an_object.pk).update(parameters=["not", "an", "object"])
    poisoned[not_an_object.pk] = ("Drain", "not an object")

    runner = start_runner(*QUEUES, "--burst", "--concurrency", "4", "--interval", "0.1")
    assert runner.wait(timeout=240) == 0, runner.output()

    assert journal_counts(good) == {item_id: 1 for item_id in good}
    assert set(QueueItem.objects.filter(pk__in=good).values_list("status", flat=True)) == {
        QueueItem.Status.SUCCESS
    }
    items = QueueItem.objects.in_bulk([*poisoned, *logged])
    for item_id, (alias, reason) in poisoned.items():
        item = items[item_id]
        assert item.status == QueueItem.Status.FAILED, (alias, item.status, item.last_error)
        assert reason in item.last_error, (alias, item.last_error)
    for item_id, text in logged.items():
        item = items[item_id]
        assert item.status == QueueItem.Status.SUCCESS
        assert text in item.details and "replaced by U+FFFD" in item.details
    log = runner.output()
    assert "Database unavailable" not in log and "Runner error" not in log
    assert "Logging error" not in log  # no text the log stream could not encode
    # The only tracebacks are those of final failures, each under its attempt's ERROR line.
    record = ""
    for line in log.splitlines():
        if line[:4].isdigit():
            record = line
        elif line.startswith("Traceback"):
            assert " ERROR django_taskqueue.runner " in record and " failed in " in record, record
    report(
        "poisoned values",
        good_items=len(good),
        poisoned_items=len(poisoned) + len(logged),
        queues=len(QUEUES),
        seconds=stopwatch(),
    )
