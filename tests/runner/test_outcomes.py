"""The outcome buffer: when a batch is due, and what is put back when writing fails."""

import time
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Runner
from django_taskqueue.runner.outcomes import OutcomeBuffer
from django_taskqueue.store import Failure, Outcome, get_store


def outcome(item_id: int) -> Outcome:
    now = timezone.now()
    return Outcome(item_id, "success", 1, "success", now, now)


@override_settings(TASKQUEUE={"COMPLETION_FLUSH_SIZE": 3, "COMPLETION_FLUSH_SECONDS": 0.2})
def test_a_batch_is_due_when_full_old_or_nothing_else_is_coming():
    buffer = OutcomeBuffer()
    assert not buffer.flush_due(items_in_flight=False)  # nothing to write
    assert buffer.seconds_until_due() is None
    buffer.add(outcome(1))
    assert not buffer.flush_due(items_in_flight=True)
    assert buffer.flush_due(items_in_flight=False)  # the last item in flight finished
    assert 0 < buffer.seconds_until_due() <= 0.2
    buffer.add(outcome(2))
    buffer.add(outcome(3))
    assert buffer.flush_due(items_in_flight=True)  # full
    with buffer.taking() as taken:
        assert [o.item_id for o in taken] == [1, 2, 3]
    buffer.add(outcome(4))
    time.sleep(0.25)
    assert buffer.flush_due(items_in_flight=True)  # old enough
    assert buffer.seconds_until_due() == 0.0


def test_taking_without_take_hands_out_nothing():
    buffer = OutcomeBuffer()
    buffer.add(outcome(1))
    with buffer.taking(take=False) as taken:
        assert taken == []
    assert len(buffer) == 1


def test_what_was_not_written_goes_back_in_front_of_newer_outcomes():
    buffer = OutcomeBuffer()
    for item_id in (1, 2, 3):
        buffer.add(outcome(item_id))
    with pytest.raises(ConnectionError), buffer.taking() as taken:
        del taken[0]  # the writer wrote #1 before the outage
        buffer.add(outcome(4))  # a worker settled meanwhile
        raise ConnectionError("database gone")
    with buffer.taking() as taken:
        assert [o.item_id for o in taken] == [2, 3, 4]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["snooze", "retry"])
def test_an_item_canceled_while_running_is_canceled_not_put_back(kind):
    """A cancel asked while the attempt ran wins over the attempt's wish to run again."""
    item = enqueue_by_alias("FlakyUntil", {"succeed_on": 9}, unique_key="k")
    Runner.objects.create(id="r", hostname="h", pid=1, concurrency=1)
    store = get_store()
    (claimed,) = store.claim(["tests"], 1, "r", timezone.now())
    QueueItem.objects.filter(pk=item.pk).update(cancel_requested=True)
    now = timezone.now()
    outcome = Outcome(
        item_id=item.pk,
        status="queued",
        attempt=1,
        attempt_outcome="snoozed" if kind == "snooze" else "retry",
        started_at=claimed.started_at,
        finished_at=now,
        failure=None if kind == "snooze" else Failure("builtins.RuntimeError", "boom"),
        retry_at=now + timedelta(hours=1),
    )
    store.record_outcomes([outcome], "r", "h:1")
    item.refresh_from_db()
    assert (item.status, item.cancel_requested) == ("canceled", False)
    assert item.completed_at is not None and item.run_at < now + timedelta(minutes=1)
    assert item.unique_claim is None
