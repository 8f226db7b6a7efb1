from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_taskqueue import (
    InactiveDefinition,
    InvalidName,
    InvalidParameters,
    TaskQueueError,
    UnknownAlias,
    enqueue_by_alias,
    enqueue_many,
    queue_stats,
)
from django_taskqueue.models import QueueItem, TaskDefinition

pytestmark = pytest.mark.django_db


def test_enqueue_creates_definition_from_handler_defaults():
    item = enqueue_by_alias("FlakyUntil", {"succeed_on": 2})
    definition = TaskDefinition.objects.get(alias="FlakyUntil")
    assert definition.queue_name == "tests"
    assert definition.max_attempts == 4
    assert definition.retry_backoff_seconds == 0.1
    assert definition.handler == "tests.taskapp.tasks.flaky_until"
    assert item.status == QueueItem.Status.QUEUED
    assert item.queue_name == "tests"
    assert item.max_attempts == 4
    assert item.parameters == {"succeed_on": 2}


def test_operator_edits_to_the_definition_win_over_decorator_defaults():
    enqueue_by_alias("Record")
    TaskDefinition.objects.filter(alias="Record").update(
        queue_name="edited", max_attempts=9, priority=7
    )
    item = enqueue_by_alias("Record")
    assert (item.queue_name, item.max_attempts, item.priority) == ("edited", 9, 7)


def test_call_arguments_override_definition_defaults():
    when = timezone.now() + timedelta(hours=1)
    item = enqueue_by_alias("Record", {}, queue_name="other", priority=-3, run_at=when)
    assert (item.queue_name, item.priority, item.run_at) == ("other", -3, when)


def test_delay_sets_run_at_in_the_future():
    before = timezone.now()
    item = enqueue_by_alias("Record", delay=60)
    assert before + timedelta(seconds=59) < item.run_at < timezone.now() + timedelta(seconds=61)


def test_unknown_alias_names_it_and_the_known_ones_and_writes_nothing():
    with pytest.raises(UnknownAlias) as excinfo:
        enqueue_by_alias("NoSuchTask", {})
    message = str(excinfo.value)
    assert "NoSuchTask" in message and "SendWelcomeEmail" in message and "Record" in message
    assert isinstance(excinfo.value, TaskQueueError)
    assert not QueueItem.all_objects.exists()
    assert not TaskDefinition.all_objects.filter(alias="NoSuchTask").exists()


def test_inactive_definition_is_refused():
    enqueue_by_alias("Record")
    TaskDefinition.objects.filter(alias="Record").update(is_active=False)
    with pytest.raises(InactiveDefinition, match="Record"):
        enqueue_by_alias("Record")
    assert QueueItem.objects.count() == 1


@pytest.mark.parametrize(
    "parameters, fragment",
    [
        ({"when": timezone.now()}, "not JSON-serialisable"),
        ({"x": float("nan")}, "NaN"),
        ({"x": float("inf")}, "NaN or infinite"),
        ({1: "a"}, "not a string"),
        ({"nested": {2: "b"}}, "not a string"),
        ({"x": "a\x00b"}, "NUL"),
        ({"x": "\udcff"}, "not valid Unicode"),
        ({"x": b"bytes"}, "bytes"),
        (["not", "a", "dict"], "must be a JSON object"),
        ("text", "must be a JSON object"),
    ],
)
def test_bad_parameters_raise_before_anything_is_written(parameters, fragment):
    with pytest.raises(InvalidParameters, match=fragment):
        enqueue_by_alias("Record", parameters)
    assert not QueueItem.all_objects.exists()


def test_deeply_nested_parameters_are_refused_cleanly():
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(InvalidParameters, match="nested too deeply"):
        enqueue_by_alias("Record", deep)


@override_settings(TASKQUEUE={"MAX_PARAMETERS_BYTES": 100})
def test_parameters_over_the_size_limit_are_refused():
    enqueue_by_alias("Record", {"x": "a" * 50})
    with pytest.raises(InvalidParameters, match="limit is 100"):
        enqueue_by_alias("Record", {"x": "a" * 200})
    assert QueueItem.objects.count() == 1


@pytest.mark.parametrize(
    "queue", ["", "a b", "x;DROP TABLE task_queue", "$(rm -rf /)", "é", "q" * 101]
)
def test_invalid_queue_names_are_refused(queue):
    with pytest.raises(InvalidName):
        enqueue_by_alias("Record", {}, queue_name=queue)
    assert not QueueItem.all_objects.exists()


@pytest.mark.parametrize("priority", ["high", 1.5, True, 2**40])
def test_invalid_priorities_are_refused(priority):
    with pytest.raises(InvalidParameters, match="[Pp]riority"):
        enqueue_by_alias("Record", {}, priority=priority)


@pytest.mark.parametrize("delay", [1e20, float("nan"), "soon", timedelta(days=10**8)])
def test_unusable_delays_are_refused(delay):
    with pytest.raises(InvalidParameters, match="Delay"):
        enqueue_by_alias("Record", delay=delay)
    assert not QueueItem.all_objects.exists()


def test_run_at_and_delay_are_exclusive():
    with pytest.raises(InvalidParameters, match="not both"):
        enqueue_by_alias("Record", run_at=timezone.now(), delay=5)


@pytest.mark.django_db(transaction=True)
def test_rolled_back_enqueue_leaves_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_by_alias("Record", {"value": 1})
        raise RuntimeError("the view failed after enqueuing")
    assert not QueueItem.all_objects.exists()


def test_enqueue_many_is_all_or_nothing():
    with pytest.raises(InvalidParameters):
        enqueue_many("Record", [{"value": 1}, {"value": float("nan")}])
    assert not QueueItem.all_objects.exists()
    items = enqueue_many("Record", [{"value": n} for n in range(500)], priority=2)
    assert len(items) == 500 and items == sorted(set(items))
    assert QueueItem.objects.filter(priority=2).count() == 500


def test_queue_stats_counts_every_status_per_queue():
    enqueue_many("Record", [{}] * 3)
    enqueue_by_alias("Record", {}, queue_name="other")
    QueueItem.objects.filter(pk=QueueItem.objects.filter(queue_name="tests").first().pk).update(
        status="failed"
    )
    stats = queue_stats()
    assert stats["tests"]["queued"] == 2 and stats["tests"]["failed"] == 1
    assert stats["other"] == {
        "waiting": 0,
        "queued": 1,
        "running": 0,
        "success": 0,
        "failed": 0,
        "canceled": 0,
        "paused": 0,
    }
    assert list(queue_stats("other")) == ["other"]
