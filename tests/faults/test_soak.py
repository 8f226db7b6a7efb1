"""Scenario 7: one runner on a steady stream, watched for memory and connection leaks."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from django_taskqueue.models import QueueItem

from .conftest import (
    assert_alive,
    database_sessions,
    enqueue_drain,
    journal_counts,
    open_database_files,
    report,
    rss_kib,
    scaled,
    wait_drained,
)

CONCURRENCY = 4
BATCH = 20
BATCH_EVERY_SECONDS = 0.2
# Warm-up (imports, caches, the first connections) happens before the first measurement; after
# it, growth beyond this is a leak, not noise.
RSS_SLACK_KIB = 16 * 1024


def open_sessions(pid: int) -> int:
    """PostgreSQL: backends on the test database; SQLite: the runner's descriptors on its file."""
    if connection.vendor == "postgresql":
        return database_sessions()
    return open_database_files(pid)


@pytest.mark.django_db(transaction=True)
def test_steady_stream_keeps_memory_and_connections_flat(run_faults, stopwatch):
    """After warm-up, RSS stays within a fixed slack and the number of database sessions does
    not grow: one per worker thread, the main loop and the LISTEN connection, no more."""
    soak_seconds = scaled(8)
    # DEBUG=True is the worst case: Django then logs every query on every connection.
    runner = run_faults("--concurrency", str(CONCURRENCY), env={"DEBUG": "1"})
    ids = enqueue_drain(BATCH * 10)
    wait_drained(timeout=60)
    rss_start = rss_kib(runner.pid)
    sessions = [open_sessions(runner.pid)]

    deadline = time.monotonic() + soak_seconds
    while time.monotonic() < deadline:
        ids += enqueue_drain(BATCH)
        time.sleep(BATCH_EVERY_SECONDS)
        sessions.append(open_sessions(runner.pid))
    wait_drained(timeout=60)
    sessions.append(open_sessions(runner.pid))
    rss_end = rss_kib(runner.pid)

    assert_alive([runner])
    assert journal_counts(ids) == {item_id: 1 for item_id in ids}
    assert QueueItem.objects.exclude(status=QueueItem.Status.SUCCESS).count() == 0
    assert rss_end - rss_start < RSS_SLACK_KIB, (rss_start, rss_end)
    # Workers + main loop + listener (+ this test's own session on PostgreSQL).
    ceiling = (CONCURRENCY + 3) * (3 if connection.vendor == "sqlite" else 1)
    assert max(sessions) <= ceiling, sessions
    assert sessions[-1] <= sessions[0], sessions
    report(
        "soak",
        items=len(ids),
        seconds=stopwatch(),
        rss_start_kib=rss_start,
        rss_end_kib=rss_end,
        sessions_first=sessions[0],
        sessions_max=max(sessions),
        sessions_last=sessions[-1],
    )
