"""Unique items: at most one item per key, by the definition's scope, enforced by the database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from django_taskqueue import DuplicateItem, InvalidParameters, enqueue_by_alias, enqueue_many
from django_taskqueue.models import QueueItem, Runner, TaskDefinition
from django_taskqueue.runner import QueueRunner
from tests.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)


def claim_and_hold(item: QueueItem) -> None:
    """What a runner's claim does to the item, without running it."""
    from django_taskqueue.store import get_store

    Runner.objects.get_or_create(
        id="holder", defaults={"hostname": "h", "pid": 1, "concurrency": 1}
    )
    (claimed,) = get_store().claim([item.queue_name], 1, "holder", timezone.now())
    assert claimed.id == item.pk


def test_the_same_key_twice_gives_back_the_first_item():
    first = enqueue_by_alias("Record", {"value": 1}, unique_key="invoice:17")
    again = enqueue_by_alias("Record", {"value": 2}, unique_key="invoice:17")
    assert again.pk == first.pk and again.parameters == {"value": 1}
    assert QueueItem.objects.count() == 1
    assert (first.unique_key, first.unique_scope) == ("invoice:17", "queued")
    other = enqueue_by_alias("Record", unique_key="invoice:18")
    assert other.pk != first.pk
    assert enqueue_by_alias("Noop", unique_key="invoice:17").pk != first.pk  # per definition


def test_on_duplicate_raise_names_the_holder():
    first = enqueue_by_alias("Record", unique_key="k")
    with pytest.raises(DuplicateItem) as excinfo:
        enqueue_by_alias("Record", unique_key="k", on_duplicate="raise")
    assert excinfo.value.item_id == first.pk and f"#{first.pk}" in str(excinfo.value)
    assert excinfo.value.code == "duplicate_item"
    assert QueueItem.objects.count() == 1


def test_queued_scope_lets_a_new_item_in_once_the_holder_runs():
    first = enqueue_by_alias("Record", unique_key="k")
    claim_and_hold(first)
    second = enqueue_by_alias("Record", unique_key="k")
    assert second.pk != first.pk
    assert enqueue_by_alias("Record", unique_key="k").pk == second.pk


def test_active_scope_holds_while_running_and_lets_go_when_finished():
    first = enqueue_by_alias("UniqueWhileActive", unique_key="k")
    assert first.unique_scope == "active"
    claim_and_hold(first)
    assert enqueue_by_alias("UniqueWhileActive", unique_key="k").pk == first.pk
    QueueItem.objects.filter(pk=first.pk).update(status="queued", runner=None)
    drain()
    assert QueueItem.objects.get(pk=first.pk).status == "success"
    assert enqueue_by_alias("UniqueWhileActive", unique_key="k").pk != first.pk


def test_a_period_holds_whatever_the_status_until_it_is_over():
    first = enqueue_by_alias("UniqueForAnHour", unique_key="k")
    assert first.unique_scope == "period"
    drain()
    first.refresh_from_db()
    assert first.status == "success"
    assert enqueue_by_alias("UniqueForAnHour", unique_key="k").pk == first.pk
    QueueItem.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(hours=2))
    later = enqueue_by_alias("UniqueForAnHour", unique_key="k")
    assert later.pk != first.pk
    assert QueueItem.objects.get(pk=first.pk).unique_claim is None


def test_an_operator_clearing_the_period_frees_the_key():
    first = enqueue_by_alias("UniqueForAnHour", unique_key="k")
    TaskDefinition.objects.filter(alias="UniqueForAnHour").update(unique_for_seconds=None)
    assert enqueue_by_alias("UniqueForAnHour", unique_key="k").pk != first.pk


def test_cancel_and_soft_delete_free_the_key_but_a_period_survives_cancel():
    canceled = enqueue_by_alias("Record", unique_key="a")
    canceled.cancel()
    assert enqueue_by_alias("Record", unique_key="a").pk != canceled.pk
    deleted = enqueue_by_alias("Record", unique_key="b")
    deleted.soft_delete()
    assert enqueue_by_alias("Record", unique_key="b").pk != deleted.pk
    period = enqueue_by_alias("UniqueForAnHour", unique_key="c")
    period.cancel()
    assert enqueue_by_alias("UniqueForAnHour", unique_key="c").pk == period.pk


def test_requeue_does_not_take_the_key_again():
    first = enqueue_by_alias("UniqueWhileActive", unique_key="k")
    drain()
    second = enqueue_by_alias("UniqueWhileActive", unique_key="k")
    QueueItem.objects.get(pk=first.pk).requeue()
    assert enqueue_by_alias("UniqueWhileActive", unique_key="k").pk == second.pk


def test_fifty_threads_racing_for_one_key_make_one_item():
    barrier = threading.Barrier(50)
    ids: list[int] = []
    errors: list[BaseException] = []

    def enqueue() -> None:
        try:
            barrier.wait()
            ids.append(enqueue_by_alias("Record", {"n": 1}, unique_key="race").pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enqueue) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:3]
    assert len(ids) == 50 and len(set(ids)) == 1
    assert QueueItem.objects.filter(unique_key="race").count() == 1


def test_enqueue_many_writes_the_rest_and_reports_the_duplicates():
    held = enqueue_by_alias("Record", unique_key="b")
    ids = enqueue_many(
        "Record", [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}], unique_keys=["a", "b", None, "a"]
    )
    assert ids.duplicates == {1: held.pk, 3: ids[0]}
    assert ids[1] == held.pk and len(set(ids)) == 3
    assert QueueItem.objects.count() == 3


def test_enqueue_many_raise_writes_nothing():
    enqueue_by_alias("Record", unique_key="b")
    with pytest.raises(DuplicateItem):
        enqueue_many("Record", [{}, {}], unique_keys=["a", "b"], on_duplicate="raise")
    assert QueueItem.objects.count() == 1


@pytest.mark.parametrize(
    "options",
    [
        {"unique_key": ""},
        {"unique_key": "x" * 201},
        {"unique_key": 17},
        {"unique_key": "a\x00b"},
        {"unique_key": "k", "on_duplicate": "ignore"},
        {"on_duplicate": "ignore"},  # refused even without a key: a typo is not ignored
    ],
)
def test_bad_unique_options_are_refused_and_write_nothing(options):
    with pytest.raises(InvalidParameters):
        enqueue_by_alias("Record", **options)
    assert not QueueItem.objects.exists()


def test_enqueue_many_refuses_keys_that_do_not_match_the_rows():
    with pytest.raises(InvalidParameters, match="one per row"):
        enqueue_many("Record", [{}, {}], unique_keys=["a"])
    assert not QueueItem.objects.exists()


def test_a_unique_item_runs_like_any_other_and_a_plain_runner_releases_its_claim():
    item = enqueue_by_alias("UniqueWhileActive", unique_key="run")
    QueueRunner(["tests"], burst=True, interval=0.05).run()
    item.refresh_from_db()
    assert (item.status, item.unique_claim, item.unique_key) == ("success", None, "run")


def test_the_http_api_answers_the_holder_or_409(client):
    from tests.api_helpers import bearer, user_with
    from tests.test_api import EVERY_PERMISSION, post

    client.defaults["HTTP_AUTHORIZATION"] = bearer(user_with(*EVERY_PERMISSION))["Authorization"]
    first = post(client, "/jobs", {"alias": "Record", "unique_key": "k"})
    assert first.status_code == 201 and first.json()["unique_key"] == "k"
    again = post(client, "/jobs", {"alias": "Record", "unique_key": "k"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    refused = post(client, "/jobs", {"alias": "Record", "unique_key": "k", "on_duplicate": "raise"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "duplicate_item"
    for body in ({"unique_key": ""}, {"unique_key": "k2", "on_duplicate": "ignore"}):
        bad = post(client, "/jobs", {"alias": "Record", **body})
        assert bad.status_code == 400, bad.content
    assert QueueItem.objects.count() == 1


def test_the_cli_prints_the_holders_id_or_fails():
    import io

    from django.core.management import CommandError, call_command

    def enqueue(*args: str) -> str:
        out = io.StringIO()
        call_command("taskqueue", "enqueue", "Record", *args, stdout=out)
        return out.getvalue().strip()

    first = enqueue("--unique-key", "k")
    assert enqueue("--unique-key", "k") == first
    with pytest.raises(CommandError, match=f"Item #{first} of 'Record' already holds"):
        enqueue("--unique-key", "k", "--on-duplicate", "raise")
    with pytest.raises(CommandError, match="unique_key must be text of 1 to 200"):
        enqueue("--unique-key", "")
    with pytest.raises(CommandError, match="invalid choice"):
        enqueue("--unique-key", "k", "--on-duplicate", "ignore")
    assert QueueItem.objects.count() == 1


def test_a_claim_left_outside_its_scope_is_freed_by_the_next_enqueue():
    stale = enqueue_by_alias("Record", unique_key="k")
    # As older code or a hand-made edit would leave it: finished, still holding the key.
    QueueItem.objects.filter(pk=stale.pk).update(status="success")
    fresh = enqueue_by_alias("Record", unique_key="k")
    assert fresh.pk != stale.pk
    assert QueueItem.objects.get(pk=stale.pk).unique_claim is None


def test_an_inactive_definition_refuses_even_a_duplicate():
    from django_taskqueue import InactiveDefinition

    enqueue_by_alias("Record", unique_key="k")
    TaskDefinition.objects.filter(alias="Record").update(is_active=False)
    with pytest.raises(InactiveDefinition):
        enqueue_by_alias("Record", unique_key="k")


def test_a_period_of_zero_is_no_period():
    TaskDefinition.objects.for_alias("UniqueForAnHour")
    TaskDefinition.objects.filter(alias="UniqueForAnHour").update(unique_for_seconds=0)
    assert enqueue_by_alias("UniqueForAnHour", unique_key="k").unique_scope == "queued"


def test_enqueue_many_takes_keys_in_order_and_gives_ids_in_row_order():
    rows = [{"n": n} for n in range(4)]
    ids = enqueue_many("Record", rows, unique_keys=["b", "a", None, "c"])
    stored = QueueItem.objects.in_bulk(ids)
    assert [stored[i].parameters for i in ids] == rows
    assert [stored[i].unique_key for i in ids] == ["b", "a", "", "c"]
