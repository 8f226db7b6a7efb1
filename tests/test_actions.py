"""Operator actions through every door: set-based, reported, and audited as LogEntry rows."""

from __future__ import annotations

import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_taskqueue import enqueue_many
from django_taskqueue.actions import apply_action, set_queue_paused
from django_taskqueue.audit import COMMAND_LINE_USERNAME, Actor
from django_taskqueue.models import QueueItem, QueueState
from tests.api_helpers import API, bearer, user_with

pytestmark = pytest.mark.django_db


def failed_items(count: int) -> list[int]:
    ids = enqueue_many("Noop", [{}] * count)
    QueueItem.objects.filter(pk__in=ids).update(status="failed", attempts=1)
    return ids


def entries_for(ids: list[int]) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id__in=[str(i) for i in ids]).order_by("object_id"))


def test_the_admin_action_audits_each_changed_item_under_the_operator(admin_client, admin_user):
    ids = failed_items(3)
    url = reverse("admin:django_taskqueue_queueitem_changelist")
    admin_client.post(url, {"action": "requeue", ACTION_CHECKBOX_NAME: ids})
    entries = entries_for(ids)
    assert [e.object_id for e in entries] == sorted(str(i) for i in ids)
    assert {e.user_id for e in entries} == {admin_user.pk}
    assert all(e.change_message == "Requeued (via admin)" for e in entries)
    # The item's History page in the admin shows it.
    history = reverse("admin:django_taskqueue_queueitem_history", args=[ids[0]])
    assert "Requeued (via admin)" in admin_client.get(history).content.decode()


def test_the_http_api_audits_under_the_token_user(client):
    (item_id,) = failed_items(1)
    user = user_with("view_queueitem", "requeue_queueitem")
    response = client.post(
        f"{API}/jobs/{item_id}/requeue", **{"HTTP_" + k.upper(): v for k, v in bearer(user).items()}
    )
    assert response.status_code == 200, response.content
    (entry,) = entries_for([item_id])
    assert (entry.user_id, entry.change_message) == (user.pk, "Requeued (via api)")


def test_the_command_line_audits_under_an_inactive_system_user():
    ids = failed_items(2)
    call_command("taskqueue", "requeue", *map(str, ids), stdout=io.StringIO())
    entries = entries_for(ids)
    assert len(entries) == 2
    assert {e.user.get_username() for e in entries} == {COMMAND_LINE_USERNAME}
    assert not entries[0].user.is_active
    assert entries[0].change_message.startswith("Requeued (via cli, by ")


def test_skipped_items_are_reported_and_not_audited(admin_user):
    changed, skipped = enqueue_many("Noop", [{}] * 2)
    QueueItem.objects.filter(pk=changed).update(status="failed")
    report = apply_action(
        "requeue",
        QueueItem.objects.filter(pk__in=[changed, skipped]),
        actor=Actor(admin_user, "admin"),
    )
    assert report.changed == [changed]
    assert report.skipped == {skipped: f"Cannot requeue item #{skipped}: it is queued."}
    assert "1 skipped" in report.summary()
    assert [e.object_id for e in entries_for([changed, skipped])] == [str(changed)]


def test_a_10000_item_action_with_its_audit_is_a_handful_of_statements(admin_user):
    failed_items(10_000)
    with CaptureQueriesContext(connection) as queries:
        report = apply_action(
            "requeue", QueueItem.objects.filter(status="failed"), actor=Actor(admin_user, "admin")
        )
    assert len(report.changed) == 10_000
    assert LogEntry.objects.count() == 10_000
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    audit = [sql for sql in statements if "django_admin_log" in sql]
    work = [sql for sql in statements if "django_admin_log" not in sql]
    # The selection, the update, on PostgreSQL the NOTIFY, and the content type at most.
    assert len(work) <= 4, work
    # The audit rows go in as few INSERTs as the driver's parameter limit allows: one on
    # PostgreSQL and on SQLite with Django 6, dozens with Django 5.2's 999-parameter cap.
    limit = connection.ops.bulk_batch_size(["a"] * 7, [None] * 10_000)
    assert len(audit) == -(-10_000 // limit)
    print(f"10,000-item audited requeue: {len(work)} statements + {len(audit)} audit INSERT(s)")


def test_pausing_a_queue_is_audited_on_the_queue(admin_user):
    set_queue_paused("mail", True, actor=Actor(admin_user, "admin"))
    assert QueueState.objects.get(name="mail").is_paused
    (entry,) = LogEntry.objects.filter(object_id="mail")
    assert entry.change_message == "Queue paused (via admin)"
