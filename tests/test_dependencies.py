"""depends_on: items that wait for others, released or canceled as their parents finish."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from django_taskqueue import InvalidParameters, enqueue_by_alias
from django_taskqueue.models import ItemDependency, QueueItem, Runner
from django_taskqueue.runner import QueueRunner
from django_taskqueue.store import get_store
from django_taskqueue.store.dependencies import PARENT_FAILED
from tests.conftest import drain, wait_for
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True)


def order_of_runs() -> list[str]:
    return list(Journal.objects.order_by("id").values_list("note", flat=True))


def test_a_child_waits_until_its_parents_succeed_and_sees_their_outputs_in_order():
    a = enqueue_by_alias("Step", {"name": "a"})
    b = enqueue_by_alias("Step", {"name": "b"})
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[b, a.pk])
    assert child.status == "waiting"
    child.refresh_from_db()
    assert child.status == "waiting"
    assert list(child.parents.order_by("child_links__position")) == [b, a]
    drain()
    child.refresh_from_db()
    assert child.status == "success"
    assert order_of_runs()[-1] == "child"
    names = [parent["name"] for parent in child.output["parents"]]
    assert names == ["b", "a"]  # the order given, not the order they ran in


def test_a_failed_parent_cancels_the_child_and_its_own_dependents_with_the_reason():
    bad = enqueue_by_alias("Step", {"name": "bad", "fail": True})
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[bad])
    grandchild = enqueue_by_alias("Step", {"name": "grandchild"}, depends_on=[child])
    drain()
    child.refresh_from_db()
    grandchild.refresh_from_db()
    assert (child.status, grandchild.status) == ("canceled", "canceled")
    assert child.last_error_class == PARENT_FAILED
    assert f"parent #{bad.pk} did not succeed" in child.last_error_message
    assert f"parent #{child.pk} did not succeed" in grandchild.last_error_message
    assert child.completed_at is not None
    assert order_of_runs() == ["bad"]


def test_on_parent_failure_run_runs_once_every_parent_is_finished():
    bad = enqueue_by_alias("Step", {"name": "bad", "fail": True})
    slow = enqueue_by_alias("Step", {"name": "slow", "sleep": 0.3})
    cleanup = enqueue_by_alias(
        "Step", {"name": "cleanup"}, depends_on=[bad, slow], on_parent_failure="run"
    )
    drain()
    cleanup.refresh_from_db()
    assert cleanup.status == "success"
    assert order_of_runs().index("cleanup") > order_of_runs().index("slow")
    assert cleanup.output["parents"][0] is None  # a failed parent has no output
    assert cleanup.output["parents"][1]["name"] == "slow"


def test_a_child_of_parents_already_finished_is_judged_at_enqueue():
    done = enqueue_by_alias("Step", {"name": "done"})
    failed = enqueue_by_alias("Step", {"name": "failed", "fail": True})
    drain()
    assert enqueue_by_alias("Step", {"name": "ok"}, depends_on=[done]).status == "queued"
    doomed = enqueue_by_alias("Step", {"name": "doomed"}, depends_on=[done, failed])
    assert doomed.status == "canceled"
    doomed.refresh_from_db()
    assert doomed.status == "canceled"
    assert doomed.last_error_class == PARENT_FAILED


def test_requeueing_a_failed_parent_revives_its_canceled_dependents():
    parent = enqueue_by_alias("Step", {"name": "parent", "fail": True})
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[parent])
    grandchild = enqueue_by_alias("Step", {"name": "grandchild"}, depends_on=[child])
    drain()
    parent.refresh_from_db()
    assert parent.status == "failed"
    assert QueueItem.objects.get(pk=grandchild.pk).status == "canceled"
    QueueItem.objects.filter(pk=parent.pk).update(parameters={"name": "parent"})  # fixed
    parent.requeue()
    assert QueueItem.objects.get(pk=child.pk).status == "waiting"
    assert QueueItem.objects.get(pk=grandchild.pk).status == "waiting"
    drain()
    assert QueueItem.objects.get(pk=parent.pk).status == "success"
    grandchild.refresh_from_db()
    assert grandchild.status == "success"
    assert grandchild.last_error_class == ""


def test_an_operator_cancel_of_a_parent_cancels_its_waiting_children():
    parent = enqueue_by_alias("Step", {"name": "parent"}, delay=3600)
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[parent])
    parent.cancel()
    child.refresh_from_db()
    assert child.status == "canceled"
    assert child.last_error_class == PARENT_FAILED


def test_a_waiting_item_can_be_canceled_but_not_paused_or_run_now():
    parent = enqueue_by_alias("Step", {"name": "parent"}, delay=3600)
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[parent])
    from django_taskqueue import InvalidTransition

    for action in (child.pause, child.run_now):
        with pytest.raises(InvalidTransition, match="it is waiting"):
            action()
    child.cancel()
    assert child.status == "canceled"


@pytest.mark.parametrize(
    "depends_on, message",
    [
        ("7", "must be a list of items or item ids"),
        ([1.5], "neither"),
        ([True], "neither"),
        ([0], "no item id"),
        ([2**63], "no item id"),
    ],
)
def test_bad_depends_on_values_are_refused_and_write_nothing(depends_on, message):
    with pytest.raises(InvalidParameters, match=message):
        enqueue_by_alias("Step", {}, depends_on=depends_on)
    assert not QueueItem.all_objects.exists()


def test_a_parent_listed_twice_or_missing_is_refused_and_writes_nothing():
    parent = enqueue_by_alias("Step", {"name": "parent"})
    with pytest.raises(InvalidParameters, match="twice"):
        enqueue_by_alias("Step", {}, depends_on=[parent, parent.pk])
    with pytest.raises(InvalidParameters, match=r"#999999, which do not exist"):
        enqueue_by_alias("Step", {}, depends_on=[parent, 999999])
    assert list(QueueItem.all_objects.values_list("pk", flat=True)) == [parent.pk]
    assert not ItemDependency.objects.exists()


def test_a_bad_on_parent_failure_is_refused():
    with pytest.raises(InvalidParameters, match="'cancel' or 'run'"):
        enqueue_by_alias("Step", {}, on_parent_failure="ignore")


def test_recovery_failing_a_parent_of_a_dead_runner_cancels_its_children():
    dead = Runner.objects.create(
        id="dead", hostname="gone", pid=1, concurrency=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    parent = enqueue_by_alias("Step", {"name": "parent"})  # max_attempts=1: out of attempts
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[parent])
    QueueItem.objects.filter(pk=parent.pk).update(
        status="running", runner=dead, attempts=1, started_at=timezone.now() - timedelta(hours=1)
    )
    assert get_store().recover_stuck(5) == {"requeued": 0, "failed": 1}
    child.refresh_from_db()
    assert child.status == "canceled"
    assert f"parent #{parent.pk} did not succeed" in child.last_error_message


def test_a_cancel_asked_while_the_parent_runs_cancels_its_children_at_the_outcome():
    parent = enqueue_by_alias("Step", {"name": "parent", "sleep": 1})
    child = enqueue_by_alias("Step", {"name": "child"}, depends_on=[parent])
    runner = QueueRunner(["tests"], interval=0.05)

    def run() -> None:
        try:
            runner.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: QueueItem.objects.get(pk=parent.pk).status == "running")
        assert parent.cancel() == "cancel requested"
        assert child.wait(timeout=30).status == "canceled"
        assert QueueItem.objects.get(pk=parent.pk).status == "canceled"
    finally:
        runner.stop()
        thread.join(timeout=30)
    assert order_of_runs() == []  # the parent was stopped before it journaled; no child ran
