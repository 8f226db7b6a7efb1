"""Concurrency limits: at most ``concurrency_limit`` items of a definition run at once,
across every runner, and items held back stay queued without spending an attempt."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import InvalidValue, enqueue_by_alias, enqueue_many, handler
from django_taskqueue.models import QueueItem, TaskDefinition
from django_taskqueue.runner import QueueRunner
from tests.conftest import drain, wait_for
from tests.taskapp.tasks import most_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_runner_with_ten_threads_runs_at_most_the_limit_at_once():
    ids = enqueue_many("LimitedToTwo", [{"sleep": 0.05}] * 12)
    others = enqueue_many("Record", [{"value": n} for n in range(10)])
    drain(concurrency=10)
    assert most_at_once(ids) == 2
    assert set(QueueItem.objects.filter(pk__in=ids + others).values_list("status", flat=True)) == {
        "success"
    }
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}


def test_operators_can_raise_or_lift_the_limit():
    ids = enqueue_many("LimitedToTwo", [{"sleep": 0.05}] * 12)
    TaskDefinition.objects.filter(alias="LimitedToTwo").update(concurrency_limit=4)
    drain(concurrency=10)
    assert 2 < most_at_once(ids) <= 4


def test_held_back_items_stay_queued_and_a_burst_leaves_them_for_later():
    ids = enqueue_many("LimitedToTwo", [{"sleep": 0.3}] * 4)
    runner = QueueRunner(["tests"], burst=True, interval=0.05, concurrency=10)
    runner.run()
    statuses = sorted(QueueItem.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert statuses.count("success") >= 2
    assert set(statuses) <= {"success", "queued"}
    assert not QueueItem.objects.filter(pk__in=ids, status="queued", attempts__gt=0).exists()


@pytest.mark.parametrize("limit", [0, -1, 1.5, "2", 10**6])
def test_a_bad_limit_is_refused_at_import(limit):
    with pytest.raises(InvalidValue):
        handler("BadLimit", concurrency_limit=limit)


def test_four_runner_processes_together_respect_the_limit(start_runner):
    ids = enqueue_many("LimitedToTwo", [{"sleep": 0.05}] * 40)
    runners = [start_runner("tests", "--concurrency", "4", "--interval", "0.05") for _ in range(4)]

    def done() -> bool:
        return QueueItem.objects.filter(pk__in=ids, status="success").count() == len(ids)

    wait_for(done, timeout=120)
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    assert most_at_once(ids) == 2


def test_a_killed_runner_gives_its_slots_back_when_its_items_are_recovered(start_runner):
    held = enqueue_many("LimitedToTwo", [{"sleep": 30}] * 2)
    first = start_runner("tests", "--interval", "0.05", "--unstuck-minutes", "0.02")
    wait_for(lambda: QueueItem.objects.filter(pk__in=held, status="running").count() == 2)
    first.signal(signal.SIGKILL)
    first.wait()
    later = enqueue_by_alias("LimitedToTwo", {"sleep": 0.01})
    second = start_runner("tests", "--interval", "0.05", "--unstuck-minutes", "0.02")
    wait_for(lambda: QueueItem.objects.get(pk=later.pk).status == "success", timeout=60)
    second.signal(signal.SIGTERM)
    assert second.wait() == 0, second.output()
    assert set(QueueItem.objects.filter(pk__in=held).values_list("status", flat=True)) == {"failed"}


def test_a_claim_on_queues_without_limited_work_takes_no_lock():
    """Runners of other queues do not take turns with those of a limited definition."""
    from django.db import connection, transaction
    from django.utils import timezone

    from django_taskqueue.models import Runner
    from django_taskqueue.store import get_store

    enqueue_by_alias("LimitedToTwo", queue_name="elsewhere")
    enqueue_by_alias("Record")
    Runner.objects.create(id="r", hostname="h", pid=1, concurrency=1)
    store = get_store()
    rules = store.flow_rules()
    limited = sorted(rules.definitions)
    assert limited  # LimitedToTwo's row has its limit
    with transaction.atomic():
        assert store.lock_due_definitions(limited, ["tests"], timezone.now()) == []
    with transaction.atomic():
        assert store.lock_due_definitions(limited, ["elsewhere"], timezone.now()) == limited
    if connection.vendor == "postgresql":
        _claim_while_another_holds_the_definition(store, rules, limited[0])
    with transaction.atomic():
        claim = store.claim_within_limits(["tests"], 5, "r", timezone.now(), rules)
    assert [item.queue_name for item in claim.items] == ["tests"]


def _claim_while_another_holds_the_definition(store, rules, definition_id) -> None:
    """On PostgreSQL, a claim of the "tests" queue does not wait for a transaction that holds
    the limited definition's row (as a claim of "elsewhere" would)."""
    import threading

    from django.db import connection, connections, transaction
    from django.utils import timezone

    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM django_taskqueue_taskdefinition WHERE id = %s FOR UPDATE",
                    [definition_id],
                )
            held.set()
            release.wait(10)
        connections["default"].close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '500ms'")
            claim = store.claim_within_limits(["tests"], 5, "r", timezone.now(), rules)
            assert [item.queue_name for item in claim.items] == ["tests"]
            transaction.set_rollback(True)
    finally:
        release.set()
        holder.join()
