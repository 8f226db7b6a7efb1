"""A workflow whose runners are killed with SIGKILL mid-graph still finishes, in order."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import chain, enqueue_workflow, group
from django_taskqueue.models import ItemDependency, QueueItem, QueueItemAttempt, Runner, Workflow
from tests.conftest import wait_for

from .conftest import assert_alive, journal_counts, report, scaled

RUNNERS = 3
CONCURRENCY = 4


def fault_step(name: str, seconds: float = 0.1) -> tuple[str, dict[str, object]]:
    return ("FaultStep", {"name": name, "seconds": seconds})


def graph(width: int):
    """Fan-out, fan-in, a chain, and a second fan-out with fan-in: every shape at once."""
    return chain(
        group(*(fault_step(f"a{i}") for i in range(width)), then=fault_step("join-a")),
        *(fault_step(f"c{i}") for i in range(5)),
        group(*(fault_step(f"b{i}") for i in range(width // 2)), then=fault_step("join-b")),
    )


def running_one_of(processes: list, ids: list[int]):
    """One of ``processes`` whose runner holds one of the items ``ids`` now, or None."""
    by_pid = {process.pid: process for process in processes}
    pid = (
        QueueItem.objects.filter(pk__in=ids, status="running", runner__pid__in=by_pid)
        .values_list("runner__pid", flat=True)
        .first()
    )
    return by_pid.get(pid)


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_workflow_still_finishes_each_step_in_order(run_faults, stopwatch):
    width = scaled(30)
    workflow = enqueue_workflow(graph(width), name="kill storm")
    ids = list(workflow.items.values_list("pk", flat=True))
    live = [run_faults("--concurrency", str(CONCURRENCY)) for _ in range(RUNNERS)]
    killed: list[int] = []
    for _ in range(scaled(2)):
        # The victim is a runner that holds a step of the workflow right now, so the kill
        # lands mid-step (killing whichever runner came first could find it idle).
        victim = wait_for(lambda: running_one_of(live, ids), 60)
        victim.signal(signal.SIGKILL)
        victim.wait(timeout=10)
        live.remove(victim)
        killed.append(victim.pid)
        live.append(run_faults("--concurrency", str(CONCURRENCY)))

    finished = wait_for(
        lambda: Workflow.objects.get(pk=workflow.pk).status != "running", timeout=180
    )
    assert finished
    assert_alive(live)
    workflow.refresh_from_db()
    assert workflow.status == "success", workflow.counts
    assert workflow.counts["success"] == len(ids)

    # Each step ran once per attempt that reached its handler; more than once only when a
    # killed runner lost an attempt of it.
    executions = journal_counts(ids)
    assert set(executions) == set(ids)
    killed_runners = set(Runner.objects.filter(pid__in=killed).values_list("pk", flat=True))
    lost = set(
        QueueItemAttempt.objects.filter(
            item_id__in=ids, outcome="lost", runner_name__in=killed_runners
        ).values_list("item_id", flat=True)
    )
    assert {pk for pk, n in executions.items() if n > 1} <= lost
    assert lost, "no kill landed mid-step; the test proved nothing"

    # Every step started after each of its parents had finished (fan-ins exactly once).
    items = {row["id"]: row for row in QueueItem.objects.filter(pk__in=ids).values()}
    for child, parent in ItemDependency.objects.filter(child_id__in=ids).values_list(
        "child_id", "parent_id"
    ):
        assert items[child]["started_at"] >= items[parent]["completed_at"]
    joins = QueueItem.objects.filter(pk__in=ids, parameters__name__in=["join-a", "join-b"])
    assert all(executions[pk] == 1 or pk in lost for pk in joins.values_list("pk", flat=True))
    report(
        "workflow_kill",
        steps=len(ids),
        kills=len(killed),
        lost_attempts=len(lost),
        duplicates=sum(n - 1 for n in executions.values()),
        seconds=stopwatch(),
    )
