"""Through PgBouncer in transaction pooling mode: every door and the runners, no session state.

These run in ``make test-pgbouncer`` (part of ``make test``), where the test database is
reached through PgBouncer on 127.0.0.1:6543 and ``TASKQUEUE["LISTEN_DATABASE"]`` connects
straight to PostgreSQL for ``LISTEN``. In the other passes there is no pooler to go through.
"""

from __future__ import annotations

import os
import signal
import threading

import psycopg
import pytest
from django.db import connection, connections

from django_taskqueue import chain, enqueue_by_alias, enqueue_many, enqueue_workflow
from django_taskqueue.models import QueueItem
from tests.conftest import wait_for

from .api_helpers import API, bearer, user_with

PGBOUNCER_ADMIN = os.environ.get("TASKQUEUE_TEST_PGBOUNCER_ADMIN")

pytestmark = [
    pytest.mark.skipif(not PGBOUNCER_ADMIN, reason="runs in make test-pgbouncer"),
    pytest.mark.django_db(transaction=True),
]


def pooler(command: str) -> list[tuple[object, ...]]:
    """A command of PgBouncer's admin console (simple query protocol: no preparing)."""
    assert PGBOUNCER_ADMIN is not None
    with psycopg.connect(PGBOUNCER_ADMIN, autocommit=True) as console:
        return console.execute(command, prepare=False).fetchall()


def test_the_test_database_really_is_reached_through_pgbouncer_in_transaction_mode():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        name = cursor.fetchone()[0]
    pools = {row[0]: row for row in pooler("SHOW POOLS")}
    assert name in pools and pools[name][-1] == "transaction"
    assert connections["listen"].settings_dict["PORT"] != connection.settings_dict["PORT"]


def test_runners_drain_through_the_pooler_and_wake_through_the_listen_database(start_runner):
    """Polling only every 60 s: the items run because the NOTIFY sent through PgBouncer at
    commit reaches the runner's LISTEN connection, which goes straight to the server."""
    runners = [
        start_runner("tests", "--concurrency", "4", "--interval", "60",
                     env={"TASKQUEUE_TEST_HEARTBEAT_SECONDS": "60"})
        for _ in range(2)
    ]  # fmt: skip
    for runner in runners:
        wait_for(lambda runner=runner: "started on queue" in runner.output(), timeout=60)
    ids = enqueue_many("Record", [{"value": n} for n in range(200)])
    item = enqueue_by_alias("Record", {"value": "single"})
    wait_for(lambda: QueueItem.objects.filter(status="success").count() == 201, timeout=60)
    assert item.wait(timeout=10).status == "success"
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    assert "LISTEN connection lost" not in "".join(r.output() for r in runners)
    assert len(ids) == 200


def test_without_listen_a_runner_polls_through_the_pooler(start_runner):
    runner = start_runner("tests", "--interval", "0.05", env={"TASKQUEUE_TEST_LISTEN_NOTIFY": "0"})
    wait_for(lambda: "started on queue" in runner.output(), timeout=60)
    enqueue_many("Record", [{}] * 20)
    wait_for(lambda: QueueItem.objects.filter(status="success").count() == 20, timeout=30)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()


def test_a_workflow_and_wait_work_through_the_pooler(start_runner):
    runner = start_runner("tests", "--interval", "0.1")
    workflow = enqueue_workflow(chain(("Step", {"name": "a"}), ("Step", {"name": "b"})))
    assert workflow.wait(timeout=60).status == "success"
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()


def test_the_admin_and_the_http_api_answer_through_the_pooler(admin_client, client):
    ids = enqueue_many("Record", [{}] * 5)
    for url in (
        "/admin/django_taskqueue/queueitem/",
        f"/admin/django_taskqueue/queueitem/{ids[0]}/change/",
        "/admin/django_taskqueue/queuestate/",  # the queues dashboard
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    user = user_with("view_queueitem", "cancel_queueitem")
    headers = bearer(user)
    assert len(client.get(f"{API}/jobs", headers=headers).json()["results"]) == 5
    response = client.post(f"{API}/jobs/{ids[0]}/cancel", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert client.get("/tasks/metrics", headers=headers).status_code == 200


def test_many_threads_enqueueing_at_once_share_a_few_server_connections():
    """Session state would leak between clients that take turns on one server connection;
    20 threads over a pool of a few connections must still each get exactly their items."""
    errors: list[BaseException] = []

    def enqueue(thread: int) -> None:
        try:
            for n in range(25):
                enqueue_by_alias("Record", {"value": f"{thread}-{n}"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enqueue, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    values = sorted(QueueItem.objects.values_list("parameters__value", flat=True))
    assert values == sorted(f"{t}-{n}" for t in range(20) for n in range(25))
