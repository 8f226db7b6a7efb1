"""Scenario 1: several runners competing for the same queue."""

from __future__ import annotations

import pytest

from django_taskqueue.models import QueueItem
from tests.taskapp.models import Journal

from .conftest import assert_alive, enqueue_drain, journal_counts, report, scaled, wait_drained

RUNNERS = 4
CONCURRENCY = 8


@pytest.mark.django_db(transaction=True)
def test_every_item_runs_exactly_once_under_contention(run_faults, stopwatch):
    """4 runners x 8 threads drain N items: each ends ``success`` after exactly one execution.

    Claims use ``SKIP LOCKED`` (PostgreSQL) or a single UPDATE ... RETURNING under SQLite's
    write lock; either way no two runners may ever get the same item, which the Journal (one
    row per handler call, written by the handler) would show as a count of 2.
    """
    count = scaled(400)
    ids = enqueue_drain(count)
    runners = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(RUNNERS)]

    wait_drained(timeout=60 + count / 20)

    assert_alive(runners)
    statuses = dict(QueueItem.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert set(statuses.values()) == {QueueItem.Status.SUCCESS}
    assert len(statuses) == count
    executions = journal_counts(ids)
    assert set(executions) == set(ids)
    assert max(executions.values()) == 1
    assert QueueItem.objects.filter(pk__in=ids, attempts=1).count() == count
    busy_runners = Journal.objects.filter(item_id__in=ids).values("pid").distinct().count()
    report(
        "contention",
        items=count,
        runners=RUNNERS,
        concurrency=CONCURRENCY,
        runners_that_ran_items=busy_runners,
        duplicates=sum(1 for n in executions.values() if n > 1),
        lost=count - len(executions),
        seconds=stopwatch(),
    )
