"""Scenario 3: the database goes away mid-drain and comes back.

On PostgreSQL every backend of the test database is terminated (``pg_terminate_backend``)
and, in the full-scale run only, the server itself is restarted. SQLite has no server to lose;
its outage is a writer holding the database's exclusive lock, which runners must wait out.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter

import pytest
from django.db import OperationalError, connection

from django_taskqueue.models import QueueItem, QueueItemAttempt
from tests.conftest import wait_for

from .conftest import (
    RESTART_POSTGRES,
    THROUGH_POOLER,
    assert_alive,
    enqueue_drain,
    journal_counts,
    report,
    scaled,
    wait_drained,
)

RUNNERS = 2
CONCURRENCY = 4
UNAVAILABLE = "Database unavailable"
BACK = "Database reachable again"


def terminate_other_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def restart_postgres() -> None:
    version = os.environ.get("TASKQUEUE_FAULT_PG_VERSION", "15")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=120,
    )
    wait_for(database_answers, timeout=60, step=0.5)


def database_answers() -> bool:
    connection.close()
    try:
        connection.ensure_connection()
    except OperationalError:
        return False
    return True


def hold_sqlite_write_lock(seconds: float) -> None:
    """Lock every writer out for ``seconds``, less than the runners' busy timeout and unstuck
    window, so they must wait and carry on rather than fail or be taken for dead."""
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("BEGIN EXCLUSIVE")
    time.sleep(seconds)
    raw.execute("COMMIT")


@pytest.mark.django_db(transaction=True)
def test_runners_ride_out_a_database_outage(run_faults, stopwatch):
    """Runners survive the outage with the same pids and drain every item.

    On PostgreSQL each runner logs the outage once ("Database unavailable" ... "Database
    reachable again") per outage; through PgBouncer, only a runner that was in a transaction
    when its server connection was lost sees it. A handler whose own connection was killed
    fails that attempt with the database error and succeeds on a retry; only such items may
    have run twice.
    """
    count = scaled(200)
    ids = enqueue_drain(count, seconds=0.05)
    runners = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(RUNNERS)]
    pids = [runner.pid for runner in runners]
    wait_for(lambda: QueueItem.objects.filter(status=QueueItem.Status.SUCCESS).count() > 20)

    outages = 0
    if connection.vendor == "postgresql":
        terminated = terminate_other_backends()
        outages += 1
        if RESTART_POSTGRES:
            time.sleep(2)
            restart_postgres()
            outages += 1
    else:
        hold_sqlite_write_lock(2.0)
        terminated = 0
        outages = 0

    wait_drained(timeout=120 + count / 10)

    assert_alive(runners)
    assert [runner.pid for runner in runners] == pids
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        QueueItem.Status.SUCCESS
    }
    executions = journal_counts(ids)
    assert set(executions) == set(ids)
    failed_attempts = QueueItemAttempt.objects.filter(item_id__in=ids).exclude(
        outcome=QueueItemAttempt.Outcome.SUCCESS
    )
    retried = set(failed_attempts.values_list("item_id", flat=True))
    duplicates = {item_id for item_id, n in executions.items() if n > 1}
    assert duplicates <= retried
    for runner in runners:
        log = runner.output()
        if THROUGH_POOLER:  # PgBouncer hides a lost server connection from idle clients
            assert log.count(UNAVAILABLE) == log.count(BACK) <= outages, log
        else:
            assert log.count(UNAVAILABLE) == outages, log
            assert log.count(BACK) == outages, log
    if connection.vendor == "postgresql":
        errors = "\n".join(failed_attempts.values_list("error", flat=True))
        assert not retried or "OperationalError" in errors
    report(
        "database_outage",
        items=count,
        backends_terminated=terminated,
        server_restarts=int(RESTART_POSTGRES and connection.vendor == "postgresql"),
        failed_attempts=dict(Counter(failed_attempts.values_list("outcome", flat=True))),
        duplicates=len(duplicates),
        lost=count - len(executions),
        seconds=stopwatch(),
    )
