"""The worker pool with real handlers on real threads: every item settles exactly once."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.execution import DefinitionInfo
from django_taskqueue.runner.pool import Execution, WorkerPool
from django_taskqueue.store import ClaimedItem, Outcome
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


class Settled:
    def __init__(self) -> None:
        self.outcomes: dict[int, list[Outcome]] = {}
        self.lock = threading.Lock()

    def __call__(self, execution: Execution, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.setdefault(execution.item.id, []).append(outcome)


def definition(alias: str, timeout: float | None = None) -> DefinitionInfo:
    return DefinitionInfo(alias, timeout, 0.0, 0.0)


def claimed(item_id: int, parameters: str = "{}", max_attempts: int = 1) -> ClaimedItem:
    return ClaimedItem(item_id, 1, "tests", parameters, 1, max_attempts, 0, timezone.now())


def test_every_item_settles_once_and_capacity_is_claimed_in_batches():
    settled = Settled()
    pool = WorkerPool(4, settled)
    pool.start()
    assert pool.free_slots() == 4  # idle: the whole capacity
    for item_id in range(1, 21):
        pool.submit(claimed(item_id), definition("Noop"))
    assert pool.free_slots() == 0
    wait_for(lambda: len(settled.outcomes) == 20)
    pool.stop()
    assert {i: [o.status for o in v] for i, v in settled.outcomes.items()} == {
        i: ["success"] for i in range(1, 21)
    }
    assert pool.busy == 0


def test_a_handler_past_its_deadline_is_settled_as_timed_out_and_a_worker_replaces_it():
    settled = Settled()
    pool = WorkerPool(1, settled)
    pool.start()
    pool.submit(claimed(1, '{"seconds": 30}'), definition("HangsInC", timeout=0.2))
    wait_for(lambda: pool.next_deadline() is not None)
    time.sleep(0.25)
    pool.enforce_timeouts()
    (outcome,) = settled.outcomes[1]
    assert (outcome.status, outcome.attempt_outcome) == ("failed", "timeout")
    assert outcome.failure.class_path == "django_taskqueue.exceptions.TaskTimeout"
    # The only worker is stuck in C; the replacement runs the next item.
    pool.submit(claimed(2), definition("Noop"))
    wait_for(lambda: 2 in settled.outcomes)
    pool.stop()


def test_a_cancel_interrupts_a_handler_that_swallows_exceptions():
    item = enqueue_by_alias("SwallowsErrorsUntilCanceled", {"seconds": 30})
    settled = Settled()
    pool = WorkerPool(1, settled)
    pool.start()
    pool.submit(claimed(item.pk, '{"seconds": 30}'), definition("SwallowsErrorsUntilCanceled"))
    wait_for(lambda: pool.next_deadline() is None and pool.busy and _started(item.pk))
    pool.cancel([item.pk])
    wait_for(lambda: item.pk in settled.outcomes, timeout=5)
    (outcome,) = settled.outcomes[item.pk]
    assert outcome.status == "canceled"
    pool.stop()


def _started(item_id: int) -> bool:
    from tests.taskapp.models import Journal

    return Journal.objects.filter(item_id=item_id, note="start").exists()


def test_items_taken_back_at_shutdown_never_settle():
    settled = Settled()
    pool = WorkerPool(1, settled)
    pool.start()
    pool.submit(claimed(1, '{"seconds": 0.3}'), definition("HangsInC"))
    pool.submit(claimed(2), definition("Noop"))  # waits behind the first
    wait_for(lambda: pool.next_deadline() is None and 1 in pool._in_flight)
    assert sorted(item.id for item in pool.take_unfinished()) == [1, 2]
    time.sleep(0.5)
    assert settled.outcomes == {}  # the late outcome of #1 is dropped, #2 never starts
    pool.stop()


def test_a_fault_around_the_handler_fails_the_item_and_the_worker_goes_on(monkeypatch):
    from django_taskqueue.runner import pool as pool_module

    real = pool_module.execute

    def faulty(item, *args, **kwargs):
        if item.id == 1:
            raise RuntimeError("injected")
        return real(item, *args, **kwargs)

    monkeypatch.setattr(pool_module, "execute", faulty)
    settled = Settled()
    pool = WorkerPool(1, settled)
    pool.start()
    pool.submit(claimed(1, max_attempts=2), definition("Noop"))
    pool.submit(claimed(2), definition("Noop"))
    wait_for(lambda: len(settled.outcomes) == 2)
    pool.stop()
    first = settled.outcomes[1][0]
    assert first.status == "queued"  # a retry: the runner's fault, not the item's
    assert first.failure.class_path == "builtins.RuntimeError"
    assert "Runner error around this item" in first.failure.traceback
    assert settled.outcomes[2][0].status == "success"
