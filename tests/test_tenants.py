"""Tenants: stored at every door under one rule, taken from schedules, and shared out fairly."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.exceptions import InvalidValue
from django_taskqueue.models import QueueItem, Schedule, TaskDefinition, Workflow
from django_taskqueue.schedules.firing import fire_now, fire_schedule
from django_taskqueue.workflows import chain, enqueue_workflow
from tests.conftest import drain
from tests.taskapp.tasks import most_at_once

pytestmark = pytest.mark.django_db(transaction=True)

BAD_TENANTS = ["", "has space", "-leading", "x" * 101, 42, "nul\x00"]


def _tenants(ids: list[int]) -> set[tuple[str | None, str | None]]:
    rows = QueueItem.objects.filter(pk__in=ids)
    return set(rows.values_list("tenant", "concurrency_key"))


def test_an_item_keeps_its_tenant_and_takes_the_tenants_key():
    item = enqueue_by_alias("Noop", {}, tenant="acme")
    assert (item.tenant, item.concurrency_key) == ("acme", "tenant:acme")
    assert _tenants([item.pk]) == {("acme", "tenant:acme")}


def test_an_explicit_concurrency_key_wins_over_the_tenants():
    item = enqueue_by_alias("Noop", {}, tenant="acme", concurrency_key="customer:7")
    assert (item.tenant, item.concurrency_key) == ("acme", "customer:7")
    assert _tenants([item.pk]) == {("acme", "customer:7")}


def test_without_a_tenant_nothing_changes():
    item = enqueue_by_alias("Noop", {})
    assert _tenants([item.pk]) == {(None, None)}


def test_enqueue_many_gives_every_row_the_tenant_and_keeps_given_keys():
    ids = enqueue_many("Noop", [{}] * 3, tenant="acme", concurrency_keys=["a", None, None])
    rows = dict(QueueItem.objects.filter(pk__in=ids).values_list("pk", "concurrency_key"))
    assert [rows[pk] for pk in ids] == ["a", "tenant:acme", "tenant:acme"]
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("tenant", flat=True)) == {"acme"}


def test_a_duplicate_row_is_not_given_the_callers_tenant():
    holder = enqueue_by_alias("Noop", {}, unique_key="once")
    ids = enqueue_many("Noop", [{}, {}], unique_keys=["once", None], tenant="acme")
    assert ids[0] == holder.pk
    assert QueueItem.objects.get(pk=holder.pk).tenant is None
    assert QueueItem.objects.get(pk=ids[1]).tenant == "acme"


def test_a_workflow_and_every_step_take_its_tenant():
    workflow = enqueue_workflow(chain(("Noop", {}), ("Noop", {})), tenant="acme")
    assert Workflow.objects.get(pk=workflow.pk).tenant == "acme"
    ids = list(workflow.items.values_list("pk", flat=True))
    assert _tenants(ids) == {("acme", "tenant:acme")}


@pytest.mark.parametrize("tenant", BAD_TENANTS)
def test_a_bad_tenant_is_refused_by_the_python_doors_and_nothing_is_written(tenant):
    with pytest.raises(InvalidValue, match="tenant"):
        enqueue_by_alias("Noop", {}, tenant=tenant)
    with pytest.raises(InvalidValue, match="tenant"):
        enqueue_many("Noop", [{}, {}], tenant=tenant)
    with pytest.raises(InvalidValue, match="tenant"):
        enqueue_workflow(("Noop", {}), tenant=tenant)
    assert not QueueItem.all_objects.exists()
    assert not Workflow.objects.exists()
    assert not TaskDefinition.all_objects.exists()  # refused before the insert


def test_the_cli_stores_the_tenant_and_refuses_a_bad_one():
    out = io.StringIO()
    call_command("taskqueue", "enqueue", "Noop", "--tenant", "acme", stdout=out)
    assert QueueItem.objects.get(pk=int(out.getvalue())).tenant == "acme"
    with pytest.raises(CommandError, match="tenant"):
        call_command("taskqueue", "enqueue", "Noop", "--tenant", "no spaces", stdout=out)
    assert QueueItem.objects.count() == 1


def test_the_admin_enqueue_form_stores_the_tenant_and_refuses_a_bad_one(admin_client):
    definition = TaskDefinition.objects.for_alias("Record")
    url = reverse("admin:django_taskqueue_taskdefinition_enqueue", args=[definition.pk])
    response = admin_client.post(url, {"parameters": "{}", "tenant": "bad tenant"})
    assert response.status_code == 200
    assert "Invalid tenant" in response.content.decode()
    assert not QueueItem.objects.exists()
    assert admin_client.post(url, {"parameters": "{}", "tenant": "acme"}).status_code == 302
    assert QueueItem.objects.get().tenant == "acme"


def _schedule(**fields) -> Schedule:
    schedule = Schedule(name="nightly", alias="Record", cron="* * * * *", timezone="UTC", **fields)
    schedule.full_clean()
    schedule.save()
    return schedule


def test_items_a_schedule_fires_take_its_tenant():
    schedule = _schedule(tenant="acme")
    assert fire_now(schedule).tenant == "acme"
    noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=noon)
    schedule.refresh_from_db()
    (fired,) = fire_schedule(schedule, noon)
    assert _tenants([fired]) == {("acme", "tenant:acme")}


def test_a_schedule_without_a_tenant_fires_items_without_one():
    assert fire_now(_schedule(tenant=None)).tenant is None


def test_a_schedule_with_a_bad_tenant_is_refused():
    with pytest.raises(Exception, match="tenant"):
        _schedule(tenant="no spaces")
    assert not Schedule.objects.exists()


def _finished_before_the_last_of(others: list[int], these: list[int]) -> int:
    rows = QueueItem.objects.filter(pk__in=these)
    last = max(rows.values_list("completed_at", flat=True))
    return QueueItem.objects.filter(pk__in=others, completed_at__lt=last).count()


def test_tenants_take_turns_so_a_big_tenant_does_not_starve_a_small_one():
    big = enqueue_many("Noop", [{}] * 300, tenant="big")
    small = enqueue_many("Noop", [{}] * 10, tenant="small")
    drain(concurrency=2)
    assert _finished_before_the_last_of(big, small) <= 30


def test_a_key_concurrency_limit_applies_to_each_tenant():
    ids = []
    for tenant in ("a", "b", "c"):
        ids += enqueue_many("OnePerKey", [{"sleep": 0.03}] * 5, tenant=tenant)
    drain(concurrency=6)
    for tenant in ("a", "b", "c"):
        own = list(QueueItem.objects.filter(tenant=tenant).values_list("pk", flat=True))
        assert most_at_once(own) == 1
    assert most_at_once(ids) > 1


def test_the_admin_lists_items_by_tenant_and_offers_the_schedules_tenants(admin_client):
    _schedule(tenant="acme")
    mine = enqueue_by_alias("Noop", {}, tenant="acme")
    enqueue_by_alias("Noop", {}, tenant="other")
    enqueue_by_alias("Noop", {})
    url = reverse("admin:django_taskqueue_queueitem_changelist")
    response = admin_client.get(url, {"tenant": "acme"})
    assert [item.pk for item in response.context["cl"].result_list] == [mine.pk]
    assert "?tenant=acme" in response.content.decode()
    other = admin_client.get(url, {"tenant": "other"}).context["cl"].result_list
    assert [item.tenant for item in other] == ["other"]
    assert len(admin_client.get(url).context["cl"].result_list) == 3
    assert "e=1" in admin_client.get(url, {"tenant": "no spaces"})["Location"]
