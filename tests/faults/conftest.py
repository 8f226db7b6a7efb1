"""Shared helpers for fault injection: the scale knob, counting, and the figures report.

``TASKQUEUE_FAULT_SCALE`` multiplies item counts, kill counts and soak time. The default (1)
keeps the whole directory to a few minutes per database for CI; ``tests/faults/full_run.py``
runs it at 50 (20,000 items for the contention test) and writes the figures it reports.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from django.db import OperationalError, connection

from django_taskqueue import enqueue_many
from django_taskqueue.models import QueueItem
from tests.conftest import RunnerProcess, wait_for
from tests.taskapp.models import Journal

SCALE = float(os.environ.get("TASKQUEUE_FAULT_SCALE", "1"))
# Restarting the server disturbs every other test using it, so only the full run asks for it.
RESTART_POSTGRES = os.environ.get("TASKQUEUE_FAULT_RESTART_POSTGRES") == "1"
REPORT_PATH = os.environ.get("TASKQUEUE_FAULT_REPORT")
# make test-pgbouncer: every connection but LISTEN goes through PgBouncer in transaction mode.
THROUGH_POOLER = bool(os.environ.get("TASKQUEUE_TEST_PGBOUNCER_ADMIN"))

# Every runner in these tests: fast polling, quick recovery of items of dead runners.
RUNNER_ARGS = ("faults", "--interval", "0.1", "--unstuck-minutes", "0.05")


@pytest.fixture(autouse=True)
def no_broken_connection_from_an_earlier_fault():
    """A fault that killed this process's own connection fails that test alone: the next one
    starts on a new connection rather than on the closed one."""
    if getattr(connection.connection, "closed", False):
        connection.close()


def scaled(count: float) -> int:
    return max(1, round(count * SCALE))


def enqueue_drain(count: int, seconds: float = 0.0) -> list[int]:
    return enqueue_many("Drain", [{"seconds": seconds} for _ in range(count)])


def journal_counts(item_ids: Iterable[int] | None = None) -> Counter[int]:
    """Handler executions per item, from the rows the handlers themselves wrote."""
    rows = Journal.objects.all()
    if item_ids is not None:
        rows = rows.filter(item_id__in=list(item_ids))
    return Counter(rows.values_list("item_id", flat=True))


def status_counts(queue: str = "faults") -> Counter[str]:
    return Counter(QueueItem.all_objects.filter(queue_name=queue).values_list("status", flat=True))


def unfinished(queue: str = "faults") -> int:
    return QueueItem.all_objects.filter(
        queue_name=queue, status__in=[QueueItem.Status.QUEUED, QueueItem.Status.RUNNING]
    ).count()


def wait_drained(timeout: float, queue: str = "faults", during: Callable[[], None] | None = None):
    """Wait until nothing of ``queue`` is queued or running, calling ``during`` between polls."""

    def drained() -> bool:
        if during is not None:
            during()
        try:
            return unfinished(queue) == 0
        except OperationalError:
            # This observer's own connection died in the fault. Through PgBouncer that can
            # come one query late: the pooler learns a server connection was terminated only
            # when it next hands it out. Reconnect and look again, as the runners do.
            connection.close()
            return False

    wait_for(drained, timeout=timeout, step=0.25)


def database_sessions() -> int:
    """Sessions open on the test database: PostgreSQL backends, or SQLite file descriptors.

    Through PgBouncer the server backends are the pooler's, so its clients are counted
    instead, and the backends that connect straight to the server (LISTEN) beside them.
    """
    if THROUGH_POOLER:
        import psycopg

        name = connection.settings_dict["NAME"]
        admin = os.environ["TASKQUEUE_TEST_PGBOUNCER_ADMIN"]
        with psycopg.connect(admin, autocommit=True) as console:
            clients = console.execute("SHOW CLIENTS", prepare=False).fetchall()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN%%'"
            )
            listening = cursor.fetchone()[0]
        return sum(1 for row in clients if row[2] == name) + listening
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return cursor.fetchone()[0]
    raise NotImplementedError("use open_database_files(pid) on SQLite")


def open_database_files(pid: int) -> int:
    """Descriptors ``pid`` holds on the SQLite test database (main, WAL and shared memory)."""
    database = Path(connection.settings_dict["NAME"]).resolve()
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(database)):
            count += 1
    return count


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def report(scenario: str, **figures: object) -> None:
    """Print the figures a scenario measured; the full run also collects them in a file."""
    record = {"scenario": scenario, "database": connection.vendor, "scale": SCALE, **figures}
    print(json.dumps(record))
    if REPORT_PATH:
        with open(REPORT_PATH, "a") as out:
            out.write(json.dumps(record) + "\n")


def assert_alive(runners: Iterable[RunnerProcess]) -> None:
    for runner in runners:
        assert runner.popen.poll() is None, f"runner {runner.pid} exited:\n{runner.output()}"


@pytest.fixture
def run_faults(start_runner: Callable[..., RunnerProcess]) -> Callable[..., RunnerProcess]:
    """Start a runner on the ``faults`` queue with the fault-test defaults plus ``args``."""

    def start(*args: str, env: dict[str, str] | None = None) -> RunnerProcess:
        return start_runner(*RUNNER_ARGS, *args, env=env)

    return start


@pytest.fixture
def stopwatch() -> Callable[[], float]:
    started = time.monotonic()
    return lambda: round(time.monotonic() - started, 1)
