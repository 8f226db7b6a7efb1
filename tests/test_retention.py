"""Retention: finished items pruned per status, in small batches, by runners and the CLI."""

from __future__ import annotations

import signal
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from django_taskqueue import chain, enqueue_many, enqueue_workflow
from django_taskqueue.checks import check_settings
from django_taskqueue.exceptions import InvalidValue
from django_taskqueue.maintenance import prune_by_status, prune_finished_items
from django_taskqueue.models import ItemDependency, QueueItem, QueueItemAttempt, Workflow
from django_taskqueue.retention import check_retention
from tests.conftest import drain, wait_for

pytestmark = pytest.mark.django_db


def retention(**settings: object):
    from django.conf import settings as django_settings

    return override_settings(TASKQUEUE={**django_settings.TASKQUEUE, **settings})


def finished(status: str, count: int, days_ago: float) -> list[int]:
    """``count`` items of ``status`` that finished ``days_ago`` days ago."""
    ids = enqueue_many("Noop", [{}] * count)
    when = timezone.now() - timedelta(days=days_ago)
    QueueItem.objects.filter(pk__in=ids).update(status=status, completed_at=when)
    return ids


def remaining(ids: list[int]) -> int:
    return QueueItem.all_objects.filter(pk__in=ids).count()


def test_the_policy_reads_each_status_and_falls_back_to_retention_days():
    with retention(RETENTION_DAYS=10):
        assert check_retention(None) == dict.fromkeys(
            ("success", "failed", "canceled"), timedelta(days=10)
        )
        policy = check_retention({"success": "7d", "failed": None, "canceled": 3600})
    assert policy == {
        "success": timedelta(days=7),
        "failed": None,
        "canceled": timedelta(hours=1),
    }


@pytest.mark.parametrize(
    "value, message",
    [
        ({"queued": "7d"}, "only finished statuses"),
        ({"success": "7"}, r"RETENTION\['success'\]: '7' is not a duration"),
        ({"failed": -5}, r"RETENTION\['failed'\] must be at least 0"),
        ("7d", "must be a dict"),
    ],
)
def test_a_bad_policy_is_refused_and_reported_by_manage_py_check(value, message):
    with pytest.raises(InvalidValue, match=message):
        check_retention(value)
    with retention(RETENTION=value):
        errors = check_settings()
    assert [error.id for error in errors] == ["django_taskqueue.E004"]
    assert "RETENTION" in errors[0].msg


def test_each_status_is_pruned_by_its_own_age_and_none_keeps_it():
    old_success = finished("success", 3, days_ago=8)
    young_success = finished("success", 2, days_ago=6)
    old_failed = finished("failed", 4, days_ago=300)
    old_canceled = finished("canceled", 2, days_ago=2)
    waiting = enqueue_many("Noop", [{}] * 2)
    QueueItem.objects.filter(pk__in=waiting).update(completed_at=timezone.now() - timedelta(300))
    with retention(RETENTION={"success": "7d", "failed": None, "canceled": "1d"}):
        deleted = prune_by_status()
    assert deleted == {"success": 3, "failed": 0, "canceled": 2}
    assert (remaining(old_success), remaining(young_success)) == (0, 2)
    assert (remaining(old_failed), remaining(old_canceled), remaining(waiting)) == (4, 0, 2)


def test_pruning_deletes_in_batches_never_in_one_big_statement():
    ids = finished("success", 250, days_ago=40)
    with retention(PRUNE_BATCH_SIZE=100), CaptureQueriesContext(connection) as queries:
        assert prune_finished_items() == 250
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "task_queue"')]
    assert len(deletes) == 3
    assert all(sql.count("%s") <= 100 and sql.count(",") < 100 for sql in deletes)
    assert remaining(ids) == 0


def test_a_budget_stops_after_the_batch_that_spends_it():
    finished("success", 30, days_ago=40)
    with retention(PRUNE_BATCH_SIZE=10):
        assert prune_by_status(budget_seconds=0)["success"] == 10
        assert prune_finished_items() == 20


@pytest.mark.django_db(transaction=True)
def test_an_items_history_links_and_emptied_workflow_go_with_it():
    workflow = enqueue_workflow(chain(("Step", {"name": "a"}), ("Step", {"name": "b"})))
    drain()
    steps = list(workflow.items.values_list("pk", flat=True))
    assert QueueItemAttempt.objects.filter(item_id__in=steps).count() == 2
    long_ago = timezone.now() - timedelta(days=40)
    QueueItem.objects.filter(pk__in=steps).update(completed_at=long_ago)
    Workflow.objects.filter(pk=workflow.pk).update(completed_at=long_ago)
    assert prune_finished_items() == 2
    assert not QueueItemAttempt.objects.filter(item_id__in=steps).exists()
    assert not ItemDependency.objects.exists()
    assert not Workflow.objects.filter(pk=workflow.pk).exists()


def test_prune_and_purge_on_the_command_line():
    finished("success", 3, days_ago=8)
    finished("failed", 2, days_ago=8)
    out = StringIO()
    with retention(RETENTION={"success": "7d", "failed": "30d"}):
        call_command("taskqueue", "prune", stdout=out)
    assert out.getvalue().splitlines() == [
        "Retention: success 7d, failed 30d, canceled 30d.",
        "Deleted 3 finished item(s) (3 success, 0 failed, 0 canceled).",
    ]
    out = StringIO()
    call_command("taskqueue", "purge", "--older-than", "1d", stdout=out)
    assert out.getvalue().strip() == "Deleted 2 finished item(s) (0 success, 2 failed, 0 canceled)."


@pytest.mark.django_db(transaction=True)
def test_a_runner_prunes_as_it_goes(start_runner):
    old = finished("success", 30, days_ago=40)  # RETENTION_DAYS is 30 in the test settings
    young = finished("success", 5, days_ago=1)
    runner = start_runner("tests", "--interval", "0.1")
    wait_for(lambda: remaining(old) == 0, timeout=30)
    assert remaining(young) == 5
    wait_for(lambda: "Pruned 30 finished item(s) past their retention" in runner.output())
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()


@pytest.mark.django_db(transaction=True)
def test_a_runner_leaves_pruning_alone_when_told_to(start_runner):
    old = finished("success", 5, days_ago=40)
    runner = start_runner("tests", "--interval", "0.1", env={"TASKQUEUE_TEST_PRUNE": "0"})
    wait_for(lambda: "started on queue" in runner.output(), timeout=60)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()
    assert remaining(old) == 5
