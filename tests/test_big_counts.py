"""Counts per queue and status on big PostgreSQL tables (store/big_counts.py, migration 0016):
the statuses of work in progress exact, large finished counts estimated, small ones exact."""

import pytest
from django.db import connection
from django.utils import timezone

from django_taskqueue import enqueue_many
from django_taskqueue.models import QueueItem
from django_taskqueue.store import big_counts, get_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite counts exactly, always (the PostgreSQL pass runs these)")


def items(queue: str, count: int, status: str, **changes: object) -> None:
    ids = enqueue_many("Noop", [{}] * count, queue_name=queue)
    QueueItem.all_objects.filter(pk__in=ids).update(status=status, **changes)


@pytest.fixture
def big_table(postgres, monkeypatch):
    """A table the counts treat as big: 2,000 successes (and 10 soft-deleted) estimated, the
    rest under the exact bound."""
    items("bulk", 2000, "success", completed_at=timezone.now())
    items("bulk", 10, "success", completed_at=timezone.now(), deleted_at=timezone.now())
    items("bulk", 30, "failed", completed_at=timezone.now())
    items("bulk", 5, "queued")
    items("bulk", 3, "running", started_at=timezone.now())
    items("quiet", 2, "canceled", completed_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE task_queue")
    monkeypatch.setattr(big_counts, "ESTIMATE_ABOVE_ROWS", 0)
    monkeypatch.setattr(big_counts, "EXACT_BELOW", 100)


def test_the_migration_creates_the_queue_and_status_statistics(postgres):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stxkind FROM pg_statistic_ext WHERE stxname = %s", [big_counts.STATISTICS]
        )
        assert cursor.fetchone() == (["m"],)


def test_large_finished_counts_are_estimated_and_the_rest_exact(big_table):
    counts = get_store().counts_by_queue_and_status()
    exact = get_store().exact_counts_by_queue_and_status()
    assert exact["bulk"]["success"] == 2000
    # ANALYZE read every row of so small a table: the estimate is off by the soft-deleted
    # ones only, which it counts too (and which show it is the estimate).
    assert counts["bulk"]["success"] == 2010
    assert {q: {s: n for s, n in c.items() if s != "success"} for q, c in counts.items()} == {
        q: {s: n for s, n in c.items() if s != "success"} for q, c in exact.items()
    }
    assert counts["bulk"]["failed"] == 30
    assert counts["bulk"]["queued"] == 5
    assert counts["bulk"]["running"] == 3
    assert counts["quiet"]["canceled"] == 2


def test_one_queue_alone(big_table):
    store = get_store()
    assert store.counts_by_queue_and_status("quiet") == store.exact_counts_by_queue_and_status(
        "quiet"
    )
    assert set(store.counts_by_queue_and_status("bulk")) == {"bulk"}
    assert store.counts_by_queue_and_status("nowhere") == {}


def test_a_count_that_reaches_the_bound_is_not_cut_to_it(big_table, monkeypatch):
    """Estimated under the bound but counted at it: the estimate, if it says more."""
    monkeypatch.setattr(big_counts, "EXACT_BELOW", 20)
    counts = get_store().counts_by_queue_and_status()
    assert counts["bulk"]["failed"] >= 20
    assert counts["quiet"]["canceled"] == 2


def test_without_the_statistics_every_count_is_exact(big_table, monkeypatch):
    monkeypatch.setattr(big_counts, "STATISTICS", "no_such_statistics")
    store = get_store()
    assert store.counts_by_queue_and_status() == store.exact_counts_by_queue_and_status()
