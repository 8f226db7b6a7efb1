"""Scenario 4: stopping runners while they drain, gently (SIGTERM) and forcefully (twice)."""

from __future__ import annotations

import signal
import time

import pytest

from django_taskqueue.models import QueueItem
from tests.conftest import wait_for

from .conftest import enqueue_drain, journal_counts, report, status_counts

CONCURRENCY = 4


def running_count() -> int:
    return QueueItem.objects.filter(status=QueueItem.Status.RUNNING).count()


@pytest.mark.django_db(transaction=True)
def test_sigterm_finishes_in_flight_items_and_exits_zero(run_faults, stopwatch):
    """SIGTERM mid-drain: in-flight items finish, nothing stays ``running``, exit code 0.

    Items not yet claimed stay ``queued`` untouched, so a later runner runs each exactly once:
    a graceful stop never causes a duplicate.
    """
    count = 120  # behaviour, not volume: the same at every scale
    ids = enqueue_drain(count, seconds=0.2)
    runners = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(2)]
    succeeded = QueueItem.objects.filter(status=QueueItem.Status.SUCCESS)
    wait_for(lambda: succeeded.count() >= count // 4)
    in_flight = set(
        QueueItem.objects.filter(status=QueueItem.Status.RUNNING).values_list("pk", flat=True)
    )
    assert in_flight, "the runners should be busy when SIGTERM arrives"

    for runner in runners:
        runner.signal(signal.SIGTERM)
    exit_codes = [runner.wait(timeout=30) for runner in runners]

    assert exit_codes == [0, 0], [runner.output() for runner in runners]
    assert running_count() == 0
    finished = set(
        QueueItem.objects.filter(status=QueueItem.Status.SUCCESS).values_list("pk", flat=True)
    )
    assert in_flight <= finished, "an in-flight item was abandoned by a graceful stop"
    left = status_counts()[QueueItem.Status.QUEUED]
    assert left > 0, "the drain ended before SIGTERM; nothing was tested"
    assert QueueItem.objects.filter(status=QueueItem.Status.QUEUED, attempts__gt=0).count() == 0

    run_faults("--concurrency", str(CONCURRENCY), "--burst").wait(timeout=60 + count)
    assert status_counts() == {QueueItem.Status.SUCCESS: count}
    assert journal_counts(ids) == {item_id: 1 for item_id in ids}
    report(
        "sigterm",
        items=count,
        in_flight_at_sigterm=len(in_flight),
        left_queued=left,
        duplicates=0,
        lost=0,
        seconds=stopwatch(),
    )


@pytest.mark.parametrize("second_signal", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.django_db(transaction=True)
def test_second_signal_forces_a_fast_exit_that_loses_nothing(run_faults, second_signal):
    """A second signal stops at once: unfinished items go back to ``queued`` with the attempt
    refunded, the runner is marked stopped and exits 0 long before the 30 s grace period."""
    ids = enqueue_drain(10, seconds=20)
    runner = run_faults("--concurrency", str(CONCURRENCY), "--grace-seconds", "30")
    wait_for(lambda: running_count() == CONCURRENCY)

    runner.signal(signal.SIGTERM)
    time.sleep(0.3)
    runner.signal(second_signal)
    started = time.monotonic()
    assert runner.wait(timeout=15) == 0, runner.output()
    assert time.monotonic() - started < 15

    assert running_count() == 0
    assert status_counts() == {QueueItem.Status.QUEUED: len(ids)}
    assert QueueItem.objects.filter(attempts__gt=0).count() == 0
    assert not journal_counts(ids)
    assert "forcing exit" in runner.output()

    QueueItem.objects.update(parameters={"seconds": 0})
    run_faults("--burst").wait(timeout=60)
    assert journal_counts(ids) == {item_id: 1 for item_id in ids}
