"""Concurrency keys: per-key limits of a definition, and claims that take keys in turn."""

from __future__ import annotations

import signal

import pytest

from django_taskqueue import InvalidParameters, enqueue_by_alias, enqueue_many
from django_taskqueue.models import QueueItem, Runner
from tests.conftest import drain, wait_for
from tests.taskapp.tasks import most_at_once, most_started_within

pytestmark = pytest.mark.django_db(transaction=True)


def _by_key(ids: list[int]) -> dict[str, list[int]]:
    keys: dict[str, list[int]] = {}
    for pk, key in QueueItem.objects.filter(pk__in=ids).values_list("pk", "concurrency_key"):
        keys.setdefault(key, []).append(pk)
    return keys


def test_enqueue_stores_the_key_on_the_item_alone_and_in_bulk():
    one = enqueue_by_alias("OnePerKey", {}, concurrency_key="customer:42")
    assert one.concurrency_key == "customer:42"
    assert QueueItem.objects.get(pk=one.pk).concurrency_key == "customer:42"
    ids = enqueue_many("OnePerKey", [{}] * 3, concurrency_keys=["a", None, "b"])
    assert [QueueItem.objects.get(pk=pk).concurrency_key for pk in ids] == ["a", None, "b"]
    same = enqueue_many("OnePerKey", [{}] * 2, concurrency_key="c")
    assert set(QueueItem.objects.filter(pk__in=same).values_list("concurrency_key", flat=True)) == {
        "c"
    }


@pytest.mark.parametrize("key", ["", "x" * 201, 42, "nul\x00", "\ud800"])
def test_a_bad_key_is_refused_and_nothing_is_written(key):
    with pytest.raises(InvalidParameters, match="concurrency_key"):
        enqueue_by_alias("OnePerKey", {}, concurrency_key=key)
    with pytest.raises(InvalidParameters, match="concurrency_key"):
        enqueue_many("OnePerKey", [{}, {}], concurrency_keys=["ok", key])
    assert not QueueItem.objects.exists()


def test_bulk_keys_must_match_the_rows():
    with pytest.raises(InvalidParameters, match="one per row"):
        enqueue_many("OnePerKey", [{}] * 3, concurrency_keys=["a"])
    with pytest.raises(InvalidParameters, match="not both"):
        enqueue_many("OnePerKey", [{}], concurrency_key="a", concurrency_keys=["a"])


def test_one_at_a_time_per_key_while_keys_run_side_by_side():
    ids = []
    for key in range(5):
        ids += enqueue_many("OnePerKey", [{"sleep": 0.03}] * 6, concurrency_key=f"k{key}")
    drain(concurrency=10)
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("status", "attempts")) == {
        ("success", 1)
    }
    for key_ids in _by_key(ids).values():
        assert most_at_once(key_ids) == 1
    assert most_at_once(ids) > 1


def test_a_key_rate_limit_applies_to_each_key_on_its_own():
    first = enqueue_many("KeyRateLimited", [{}] * 12, concurrency_key="a")
    second = enqueue_many("KeyRateLimited", [{}] * 12, concurrency_key="b")
    drain(concurrency=10)
    assert most_started_within(first) <= 5
    assert most_started_within(second) <= 5
    assert most_started_within(first + second) > 5  # the two keys do not share one rate


def _finished_before_the_last_of(others: list[int], these: list[int]) -> int:
    """How many of ``others`` had finished when the last of ``these`` did, by the runner's
    record of each end (no-op handlers: handlers writing rows would, on SQLite, measure who
    won its write lock rather than the order of the claims)."""
    rows = QueueItem.objects.filter(pk__in=these)
    last = max(rows.values_list("completed_at", flat=True))
    return QueueItem.objects.filter(pk__in=others, completed_at__lt=last).count()


def test_claims_take_keys_in_turn_so_a_big_key_does_not_starve_a_small_one():
    big = enqueue_many("Noop", [{}] * 300, concurrency_key="A")
    small = enqueue_many("Noop", [{}] * 10, concurrency_key="B")
    drain(concurrency=2)
    assert _finished_before_the_last_of(big, small) <= 30


def test_items_without_a_key_take_turns_as_one_more_key():
    unkeyed = enqueue_many("Noop", [{}] * 200)
    keyed = enqueue_many("Noop", [{}] * 10, concurrency_key="late")
    drain(concurrency=2)
    assert _finished_before_the_last_of(unkeyed, keyed) <= 30


def test_a_killed_runner_leaves_no_key_blocked(start_runner):
    held = enqueue_by_alias("OnePerKey", {"sleep": 30}, concurrency_key="customer:1")
    first = start_runner("tests", "--interval", "0.05", "--unstuck-minutes", "0.02")
    wait_for(lambda: QueueItem.objects.get(pk=held.pk).status == "running")
    first.signal(signal.SIGKILL)
    first.wait()
    later = enqueue_by_alias("OnePerKey", {"sleep": 0.01}, concurrency_key="customer:1")
    second = start_runner("tests", "--interval", "0.05", "--unstuck-minutes", "0.02")
    wait_for(lambda: QueueItem.objects.get(pk=later.pk).status == "success", timeout=60)
    second.signal(signal.SIGTERM)
    assert second.wait() == 0, second.output()
    assert QueueItem.objects.get(pk=held.pk).status == "failed"  # max_attempts=1


def test_four_runner_processes_keep_one_run_per_key(start_runner):
    ids = []
    for key in range(5):
        ids += enqueue_many("OnePerKey", [{"sleep": 0.05}] * 8, concurrency_key=f"k{key}")
    runners = [start_runner("tests", "--concurrency", "4", "--interval", "0.05") for _ in range(4)]
    wait_for(lambda: QueueItem.objects.filter(pk__in=ids, status="success").count() == 40, 120)
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
    for key_ids in _by_key(ids).values():
        assert most_at_once(key_ids) == 1


def test_keys_enqueued_after_a_runner_started_keep_their_limit(start_runner):
    runner = start_runner("tests", "--concurrency", "6", "--interval", "0.05")
    wait_for(lambda: Runner.objects.filter(stopped_at__isnull=True).exists())
    ids = []
    for key in ("a", "b"):
        ids += enqueue_many("OnePerKey", [{"sleep": 0.05}] * 6, concurrency_key=key)
    wait_for(lambda: QueueItem.objects.filter(pk__in=ids, status="success").count() == 12, 60)
    runner.signal(signal.SIGTERM)
    assert runner.wait() == 0, runner.output()
    for key_ids in _by_key(ids).values():
        assert most_at_once(key_ids) == 1
