"""chain, group and enqueue_workflow: graphs of steps written at once, run in order."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from django_taskqueue import InvalidParameters, UnknownAlias, chain, enqueue_workflow, group
from django_taskqueue.models import ItemDependency, QueueItem, Workflow
from django_taskqueue.runner import QueueRunner
from django_taskqueue.workflows import from_json
from tests.conftest import drain
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True)


def runs() -> list[str]:
    return list(Journal.objects.order_by("id").values_list("note", flat=True))


def step(name: str, **parameters: object) -> tuple[str, dict[str, object]]:
    return ("Step", {"name": name, **parameters})


def test_a_chain_runs_its_steps_in_order_and_the_workflow_succeeds():
    workflow = enqueue_workflow(
        chain(step("fetch"), step("charge"), step("receipt")), name="order 7"
    )
    assert isinstance(workflow, Workflow) and workflow.status == "running"
    assert workflow.name == "order 7"
    assert workflow.counts == {**workflow.counts, "queued": 1, "waiting": 2}
    drain()
    workflow.refresh_from_db()
    assert workflow.status == "success" and workflow.completed_at is not None
    assert runs() == ["fetch", "charge", "receipt"]
    receipt = workflow.items.get(parameters__name="receipt")
    assert receipt.output["parents"][0]["name"] == "charge"
    assert workflow.counts()["success"] == 3


def test_a_group_fans_in_to_its_then_step_with_every_output_in_order():
    workflow = enqueue_workflow(
        group(step("a", sleep=0.2), step("b"), step("c"), then=step("publish"))
    )
    drain()
    workflow.refresh_from_db()
    assert workflow.status == "success"
    assert runs()[-1] == "publish" and sorted(runs()[:3]) == ["a", "b", "c"]
    publish = workflow.items.get(parameters__name="publish")
    assert [parent["name"] for parent in publish.output["parents"]] == ["a", "b", "c"]


def test_chains_and_groups_nest():
    description = chain(
        step("start"),
        group(chain(step("a1"), step("a2")), step("b"), then=step("join")),
        step("end"),
    )
    workflow = enqueue_workflow(description)
    drain()
    order = runs()
    assert order[0] == "start" and order[-2:] == ["join", "end"]
    assert order.index("a1") < order.index("a2")
    join = workflow.items.get(parameters__name="join")
    # join waits for the ends of the group's members: a2 (end of the inner chain) and b.
    assert sorted(join.parents.values_list("parameters__name", flat=True)) == ["a2", "b"]
    assert Workflow.objects.get(pk=workflow.pk).status == "success"


def test_a_step_takes_options():
    workflow = enqueue_workflow(
        chain(("Step", {"name": "pay"}, {"queue_name": "payments", "priority": 7}), step("after"))
    )
    pay = workflow.items.get(parameters__name="pay")
    assert (pay.queue_name, pay.priority) == ("payments", 7)
    drain(queues=("tests", "payments"))
    assert Workflow.objects.get(pk=workflow.pk).status == "success"


def test_a_failed_step_fails_the_workflow_and_requeueing_it_continues():
    workflow = enqueue_workflow(chain(step("one"), step("two", fail=True), step("three")))
    drain()
    workflow.refresh_from_db()
    assert workflow.status == "failed"
    assert workflow.counts["success"] == 1
    assert workflow.counts["failed"] == 1 and workflow.counts["canceled"] == 1
    two = workflow.items.get(parameters__name="two")
    QueueItem.objects.filter(pk=two.pk).update(parameters={"name": "two"})  # the fix
    two.requeue()
    workflow.refresh_from_db()
    assert workflow.status == "running"
    drain()
    workflow.refresh_from_db()
    assert workflow.status == "success"
    assert runs() == ["one", "two", "two", "three"]


def test_cancel_cancels_every_unfinished_step():
    workflow = enqueue_workflow(chain(step("one"), step("two")))
    report = workflow.cancel()
    assert len(report.changed) == 2
    assert workflow.status == "canceled"
    assert set(workflow.items.values_list("status", flat=True)) == {"canceled"}


def test_the_workflow_is_atomic_with_the_callers_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_workflow(chain(step("one"), step("two")))
        raise RuntimeError("the view failed after enqueueing")
    assert not Workflow.objects.exists() and not QueueItem.all_objects.exists()


@pytest.mark.parametrize(
    "description, error, message",
    [
        (chain(step("ok"), ("Nope", {})), UnknownAlias, "Nope"),
        (chain(step("ok"), ("Step", {"x": object()})), InvalidParameters, "Step 2"),
        (chain(("Step", {}, {"colour": "red"})), InvalidParameters, "unknown option"),
        (chain(("Step", {}, {"priority": "high"})), InvalidParameters, "Step 1 .*Priority"),
        (chain(("Step", {}, {"on_parent_failure": "x"})), InvalidParameters, "'cancel' or 'run'"),
        (chain("Step"), InvalidParameters, "expected"),
        (("Step",), InvalidParameters, "expected"),
    ],
)
def test_a_bad_step_is_refused_by_its_number_and_nothing_is_written(description, error, message):
    with pytest.raises(error, match=message):
        enqueue_workflow(description)
    assert not Workflow.objects.exists() and not QueueItem.all_objects.exists()


def test_empty_chains_and_groups_and_bad_names_are_refused():
    with pytest.raises(InvalidParameters, match="at least one"):
        chain()
    with pytest.raises(InvalidParameters, match="at least one"):
        group(then=step("x"))
    with pytest.raises(InvalidParameters, match="name"):
        enqueue_workflow(step("x"), name="n" * 201)


def test_the_json_form_describes_the_same_graph():
    description = from_json(
        {
            "chain": [
                {"alias": "Step", "parameters": {"name": "first"}},
                {
                    "group": [["Step", {"name": "x"}], ["Step", {"name": "y"}]],
                    "then": {"alias": "Step", "parameters": {"name": "last"}},
                },
            ]
        }
    )
    workflow = enqueue_workflow(description)
    drain()
    assert Workflow.objects.get(pk=workflow.pk).status == "success"
    assert runs()[0] == "first" and runs()[-1] == "last"
    with pytest.raises(InvalidParameters, match=r"workflow.chain\[0\]"):
        from_json({"chain": [{"alias": "Step", "colour": 1}]})


def test_a_big_group_is_written_with_few_statements_and_one_link_per_member():
    members = [step(f"m{i}") for i in range(2000)]
    workflow = enqueue_workflow(group(*members, then=step("then")))
    assert workflow.items.count() == 2001
    assert ItemDependency.objects.filter(child__workflow=workflow).count() == 2000
    assert workflow.counts["waiting"] == 1


def test_item_wait_and_workflow_wait_return_once_finished():
    workflow = enqueue_workflow(chain(step("one"), step("two", sleep=0.2)))
    first = workflow.items.get(parameters__name="one")
    with pytest.raises(TimeoutError, match="still"):
        first.wait(timeout=0.2)
    runner = QueueRunner(["tests"], interval=0.05)

    def run() -> None:
        try:
            runner.run()
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    try:
        started = time.monotonic()
        assert workflow.wait(timeout=30).status == "success"
        assert time.monotonic() - started < 10
        assert first.wait(timeout=1).status == "success"
    finally:
        runner.stop()
        thread.join(timeout=30)


def test_wait_inside_a_transaction_is_refused():
    workflow = enqueue_workflow(step("one"))
    from django_taskqueue import TaskQueueError

    with pytest.raises(TaskQueueError, match="inside a transaction"), transaction.atomic():
        workflow.wait(timeout=1)


def test_pruning_removes_finished_steps_and_then_the_empty_workflow():
    from datetime import timedelta

    from django.utils import timezone

    from django_taskqueue.maintenance import prune_finished_items

    done = enqueue_workflow(chain(step("one"), step("two")))
    pending = enqueue_workflow(step("later"))
    drain()
    Workflow.objects.filter(pk=done.pk).update(completed_at=timezone.now() - timedelta(days=40))
    QueueItem.objects.filter(workflow=done).update(completed_at=timezone.now() - timedelta(days=40))
    Workflow.objects.filter(pk=pending.pk).update(completed_at=timezone.now() - timedelta(days=40))
    assert prune_finished_items(older_than_days=30) == 2
    assert not Workflow.objects.filter(pk=done.pk).exists()
    assert not ItemDependency.objects.exists()
    assert Workflow.objects.filter(pk=pending.pk).exists()  # its step is still kept
