"""``TASKQUEUE["DATABASE"]``: the queue on its own alias, honoured by every door and runner.

The ``queue`` alias is a second database on the same engine as ``default`` (a second SQLite
file, or a second PostgreSQL database). Every test checks where rows landed by asking both
databases directly, not through the router.
"""

from __future__ import annotations

import signal

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import connections, transaction
from django.test import override_settings
from django.urls import reverse

from django_taskqueue import enqueue_by_alias, enqueue_many, queue_stats
from django_taskqueue.actions import apply_action
from django_taskqueue.audit import Actor
from django_taskqueue.maintenance import recover_stuck_items
from django_taskqueue.models import QueueItem
from django_taskqueue.runner import QueueRunner
from tests.api_helpers import API, bearer, user_with
from tests.conftest import database_url, wait_for
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "queue"])


@pytest.fixture(autouse=True)
def queue_on_its_own_database():
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, "DATABASE": "queue"}):
        yield


def rows_in(alias: str, status: str | None = None) -> int:
    sql = "SELECT count(*) FROM task_queue" + (" WHERE status = %s" if status else "")
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [status] if status else [])
        return cursor.fetchone()[0]


def test_enqueue_writes_to_the_queue_database_only():
    item = enqueue_by_alias("Record", {"value": 1})
    ids = enqueue_many("Record", [{"value": n} for n in range(5)])
    assert (rows_in("queue"), rows_in("default")) == (6, 0)
    assert item._state.db == "queue"
    assert QueueItem.objects.filter(pk__in=[item.pk, *ids]).count() == 6  # the router agrees


def test_atomic_with_the_caller_means_a_transaction_on_the_queue_alias():
    with pytest.raises(RuntimeError), transaction.atomic(using="queue"):
        enqueue_by_alias("Record")
        raise RuntimeError("the view failed after enqueuing")
    assert rows_in("queue") == 0
    # A transaction on default does not cover an item on another database.
    with pytest.raises(RuntimeError), transaction.atomic(using="default"):
        enqueue_by_alias("Record")
        raise RuntimeError("rolled back on default only")
    assert rows_in("queue") == 1


def test_a_runner_claims_records_and_recovers_on_the_queue_database():
    ids = enqueue_many("Record", [{"value": n} for n in range(10)])
    QueueRunner(["tests"], burst=True, interval=0.05).run()
    assert rows_in("queue", "success") == 10 and rows_in("default") == 0
    assert set(Journal.objects.values_list("item_id", flat=True)) == set(ids)  # on default
    assert QueueItem.objects.filter(pk=ids[0]).get().attempt_log.count() == 1
    # Recovery reads the queue database's runners and items.
    with connections["queue"].cursor() as cursor:
        cursor.execute("UPDATE task_queue SET status = 'running', started_at = '2000-01-01'")
    assert recover_stuck_items(0.01) == {"requeued": 0, "failed": 10}


def test_operator_actions_and_stats_use_the_queue_database(admin_user):
    ids = enqueue_many("Record", [{}] * 3)
    report = apply_action("pause", ids, actor=Actor(admin_user, "admin"))
    assert report.changed == ids and rows_in("queue", "paused") == 3
    assert queue_stats()["tests"]["paused"] == 3
    assert LogEntry.objects.using("default").count() == 3  # the audit lives with the admin


def test_the_admin_and_the_http_api_read_the_queue_database(admin_client, client):
    item = enqueue_by_alias("Record", {"value": "listed"})
    changelist = admin_client.get(reverse("admin:django_taskqueue_queueitem_changelist"))
    assert changelist.status_code == 200 and f">{item.pk}<" in changelist.content.decode()
    detail = admin_client.get(reverse("admin:django_taskqueue_queueitem_change", args=[item.pk]))
    assert "listed" in detail.content.decode()
    dashboard = admin_client.get(reverse("admin:django_taskqueue_queuestate_changelist"))
    assert dashboard.status_code == 200
    token = bearer(user_with("view_queueitem"))["Authorization"]
    listing = client.get(f"{API}/jobs", HTTP_AUTHORIZATION=token).json()
    assert [job["id"] for job in listing["results"]] == [item.pk]
    metrics = client.get("/tasks/metrics", HTTP_AUTHORIZATION=token).content.decode()
    assert 'queue="tests"' in metrics


def test_a_runner_process_serves_the_queue_database(start_runner):
    env = {
        "TASKQUEUE_TEST_DATABASE": "queue",
        "QUEUE_DATABASE_URL": database_url("queue"),
        "TASKQUEUE_TEST_HEARTBEAT_SECONDS": "60",
    }
    runner = start_runner("tests", "--interval", "60", env=env)
    wait_for(lambda: "started on queue" in runner.output())
    enqueue_many("Record", [{}] * 3)  # the wake-up must come through the queue database
    wait_for(lambda: rows_in("queue", "success") == 3, timeout=20)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0
    assert rows_in("default") == 0
