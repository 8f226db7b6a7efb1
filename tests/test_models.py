import pytest
from django.utils import timezone

from django_taskqueue import InvalidTransition, enqueue_by_alias
from django_taskqueue.models import QueueItem, Runner, TaskDefinition
from django_taskqueue.store import get_store

pytestmark = pytest.mark.django_db


def test_soft_delete_hides_items_and_restore_brings_them_back():
    item = enqueue_by_alias("Record")
    item.soft_delete()
    assert not QueueItem.objects.filter(pk=item.pk).exists()
    assert QueueItem.all_objects.deleted().filter(pk=item.pk).exists()
    item.restore()
    assert QueueItem.objects.filter(pk=item.pk).exists()


def test_soft_deleted_items_are_never_claimable():
    item = enqueue_by_alias("Record")
    item.soft_delete()
    Runner.objects.create(id="r", hostname="h", pid=1, concurrency=1)
    assert get_store().claim(["tests"], 10, "r", timezone.now()) == []
    item.restore()
    assert [claimed.id for claimed in get_store().claim(["tests"], 10, "r", timezone.now())] == [
        item.pk
    ]


def test_deleting_a_definition_with_items_is_soft():
    enqueue_by_alias("Record")
    definition = TaskDefinition.objects.get(alias="Record")
    definition.delete()
    assert not TaskDefinition.objects.filter(alias="Record").exists()
    assert TaskDefinition.all_objects.get(alias="Record").deleted_at is not None
    assert QueueItem.objects.count() == 1


def test_bulk_deleting_definitions_removes_only_unused_ones():
    enqueue_by_alias("Record")
    TaskDefinition.create_from_spec(
        __import__("django_taskqueue.registry").registry.get_spec("Noop")
    )
    TaskDefinition.objects.all().delete()
    assert set(TaskDefinition.all_objects.values_list("alias", flat=True)) == {"Record"}
    assert TaskDefinition.all_objects.get(alias="Record").deleted_at is not None


def test_state_transitions_follow_the_lifecycle():
    item = enqueue_by_alias("Record")
    item.pause()
    assert item.status == "paused"
    with pytest.raises(InvalidTransition, match="it is paused"):
        item.pause()
    item.resume()
    assert item.status == "queued"
    assert item.cancel() == "canceled"
    assert item.completed_at is not None
    with pytest.raises(InvalidTransition):
        item.cancel()
    item.requeue()
    assert (item.status, item.attempts, item.completed_at) == ("queued", 0, None)


def test_cancel_of_a_running_item_only_asks_the_runner():
    item = enqueue_by_alias("Record")
    QueueItem.objects.filter(pk=item.pk).update(status="running", attempts=1)
    item.refresh_from_db()
    assert item.cancel() == "cancel requested"
    item.refresh_from_db()
    assert item.status == "running" and item.cancel_requested


def test_running_items_cannot_be_soft_deleted():
    item = enqueue_by_alias("Record")
    QueueItem.objects.filter(pk=item.pk).update(status="running")
    item.refresh_from_db()
    with pytest.raises(InvalidTransition, match="cancel it first"):
        item.soft_delete()


def test_transition_uses_the_database_status_not_a_stale_instance():
    item = enqueue_by_alias("Record")
    QueueItem.objects.filter(pk=item.pk).update(status="success")  # a runner finished it
    with pytest.raises(InvalidTransition, match="it is success"):
        item.pause()


def test_migration_0017_copies_item_facts_onto_the_last_hour_of_attempts():
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from django_taskqueue.models import QueueItemAttempt

    migration = import_module("django_taskqueue.migrations.0017_attempt_facts_and_recent_indexes")
    item = enqueue_by_alias("Record", queue_name="reports")
    now = timezone.now()
    recent, old = (
        QueueItemAttempt.objects.create(
            item=item, number=1, outcome="success", finished_at=finished_at
        )
        for finished_at in (now, now - migration.RECENT - timezone.timedelta(minutes=1))
    )
    # The step reads only its schema editor's connection (SQLite's refuses to open here).
    migration.fill_recent_attempts(apps, SimpleNamespace(connection=connection))
    recent.refresh_from_db()
    old.refresh_from_db()
    assert (recent.queue_name, recent.definition_id, recent.enqueued_at) == (
        "reports",
        item.definition_id,
        item.created_at,
    )
    assert (old.queue_name, old.definition_id, old.enqueued_at) == (None, None, None)
