"""Scenario 2: runners killed with SIGKILL mid-drain, replaced, and the queue still drains."""

from __future__ import annotations

import random
import signal
import time

import pytest

from django_taskqueue import enqueue_many
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner
from tests.conftest import wait_for
from tests.taskapp.tasks import overlapping_runs

from .conftest import (
    assert_alive,
    enqueue_drain,
    journal_counts,
    report,
    scaled,
    unfinished,
    wait_drained,
)

RUNNERS = 3
CONCURRENCY = 4
KILL_EVERY_SECONDS = 1.0


@pytest.mark.django_db(transaction=True)
def test_kill_storm_loses_nothing_and_duplicates_only_items_of_killed_runners(
    run_faults, stopwatch
):
    """Every item ends ``success``; only items a killed runner held ran more than once.

    A SIGKILLed runner cannot record anything, so its running items are recovered by the
    survivors' heartbeat after ``--unstuck-minutes`` with a LOST attempt: those (and only
    those) may have run twice. Anything else running twice, or any item left unfinished,
    is a bug.
    """
    count = scaled(200)
    kills_planned = scaled(4)
    ids = enqueue_drain(count, seconds=0.15)
    live = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(RUNNERS)]
    killed_pids: list[int] = []
    rng = random.Random(6)

    wait_for(lambda: QueueItem.objects.filter(status=QueueItem.Status.RUNNING).exists())
    while len(killed_pids) < kills_planned and unfinished() > 0:
        time.sleep(KILL_EVERY_SECONDS)
        victim = live.pop(rng.randrange(len(live)))
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_pids.append(victim.pid)
        live.append(run_faults("--concurrency", str(CONCURRENCY)))

    wait_drained(timeout=120 + count / 10)

    assert_alive(live)
    statuses = set(QueueItem.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses == {QueueItem.Status.SUCCESS}
    executions = journal_counts(ids)
    assert set(executions) == set(ids), "an item finished without its handler running"
    killed_runner_ids = set(Runner.objects.filter(pid__in=killed_pids).values_list("pk", flat=True))
    lost = QueueItemAttempt.objects.filter(item_id__in=ids, outcome=QueueItemAttempt.Outcome.LOST)
    lost_by_item: dict[int, set[str]] = {}
    for item_id, runner_id in lost.values_list("item_id", "runner_name"):
        lost_by_item.setdefault(item_id, set()).add(runner_id)
    duplicates = [item_id for item_id, n in executions.items() if n > 1]
    for item_id in duplicates:
        assert lost_by_item.get(item_id, set()) & killed_runner_ids, (
            f"item {item_id} ran {executions[item_id]} times without a killed runner"
        )
    assert lost_by_item, "no kill landed mid-item; the storm proved nothing"
    assert set().union(*lost_by_item.values()) <= killed_runner_ids
    report(
        "kill_storm",
        items=count,
        kills=len(killed_pids),
        lost_attempts=lost.count(),
        duplicates=len(duplicates),
        lost=count - len(executions),
        seconds=stopwatch(),
    )


@pytest.mark.django_db(transaction=True)
def test_kill_storm_with_concurrency_keys_leaves_no_key_blocked(run_faults, stopwatch):
    """Runners holding a key's one slot are killed; recovery gives the slot back, every item
    still succeeds, and no two finished runs of one key ever overlapped."""
    keys = [f"customer:{n}" for n in range(5)]
    per_key = scaled(30)
    ids_by_key = {
        key: enqueue_many("KeyedDrain", [{"seconds": 0.1}] * per_key, concurrency_key=key)
        for key in keys
    }
    ids = [pk for key_ids in ids_by_key.values() for pk in key_ids]
    live = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(RUNNERS)]
    killed = 0
    rng = random.Random(7)
    wait_for(lambda: QueueItem.objects.filter(status=QueueItem.Status.RUNNING).exists())
    while killed < scaled(3) and unfinished() > 0:
        time.sleep(KILL_EVERY_SECONDS)
        victim = live.pop(rng.randrange(len(live)))
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed += 1
        live.append(run_faults("--concurrency", str(CONCURRENCY)))

    wait_drained(timeout=120 + len(ids) / 5)

    assert_alive(live)
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        QueueItem.Status.SUCCESS
    }
    assert set(journal_counts(ids)) == set(ids)
    overlaps = {key: overlapping_runs(key_ids) for key, key_ids in ids_by_key.items()}
    assert set(overlaps.values()) == {0}, overlaps
    lost = QueueItemAttempt.objects.filter(item_id__in=ids, outcome=QueueItemAttempt.Outcome.LOST)
    assert lost.exists(), "no kill landed mid-item; the storm proved nothing"
    report(
        "kill_storm_keys",
        items=len(ids),
        keys=len(keys),
        kills=killed,
        lost_attempts=lost.count(),
        overlapping_runs=sum(overlaps.values()),
        lost=len(ids) - len(journal_counts(ids)),
        keys_left_blocked=QueueItem.objects.filter(
            pk__in=ids, status__in=["queued", "running"]
        ).count(),
        seconds=stopwatch(),
    )
