"""Tenant-bound API tokens: they see and act on their tenant's items, workflows and schedules
only; another tenant's are a 404, and endpoints every tenant shares refuse them."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.api import tokens as jwt
from django_taskqueue.api.auth import mint_token, token_secret
from django_taskqueue.models import QueueItem, Schedule, Workflow
from django_taskqueue.workflows import enqueue_workflow

from .api_helpers import API, user_with

pytestmark = pytest.mark.django_db

PERMISSIONS = (
    "view_queueitem",
    "add_queueitem",
    "cancel_queueitem",
    "requeue_queueitem",
    "view_workflow",
    "view_schedule",
    "fire_schedule",
    "change_queuestate",
)


@pytest.fixture
def acme():
    """Headers of a token bound to tenant "acme", for a user with every API permission."""
    user = user_with(*PERMISSIONS)
    return {"Authorization": f"Bearer {mint_token(user, tenant='acme')}"}


def _post(client, path, body, headers):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def test_the_token_carries_its_tenant_and_the_command_mints_one():
    user = user_with()
    assert jwt.decode(mint_token(user, tenant="acme"), token_secret())["tenant"] == "acme"
    assert "tenant" not in jwt.decode(mint_token(user), token_secret())
    out = io.StringIO()
    call_command("taskqueue_token", user.username, "--tenant", "acme", stdout=out)
    assert jwt.decode(out.getvalue().strip(), token_secret())["tenant"] == "acme"
    with pytest.raises(CommandError, match="tenant"):
        call_command("taskqueue_token", user.username, "--tenant", "no spaces", stdout=out)


@pytest.mark.parametrize("tenant", ["no spaces", 42, None, ""])
def test_a_token_whose_tenant_claim_is_no_tenant_name_is_refused(client, tenant):
    user = user_with(*PERMISSIONS)
    claims = {"sub": str(user.pk), "iat": 1, "exp": 2**31, "tenant": tenant}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, token_secret())}"}
    response = client.get(f"{API}/jobs", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_tenant_token_lists_only_its_tenants_jobs(client, acme):
    mine = enqueue_by_alias("Noop", {}, tenant="acme")
    enqueue_by_alias("Noop", {}, tenant="other")
    enqueue_by_alias("Noop", {})
    results = client.get(f"{API}/jobs", headers=acme).json()["results"]
    assert [(row["id"], row["tenant"]) for row in results] == [(mine.pk, "acme")]
    asked_other = client.get(f"{API}/jobs", {"tenant": "other"}, headers=acme)
    assert asked_other.status_code == 403


def test_an_unbound_token_sees_every_tenant_and_may_filter(client):
    headers = {"Authorization": f"Bearer {mint_token(user_with(*PERMISSIONS))}"}
    acme = enqueue_by_alias("Noop", {}, tenant="acme")
    enqueue_by_alias("Noop", {})
    assert len(client.get(f"{API}/jobs", headers=headers).json()["results"]) == 2
    only = client.get(f"{API}/jobs", {"tenant": "acme"}, headers=headers).json()["results"]
    assert [row["id"] for row in only] == [acme.pk]
    assert client.get(f"{API}/jobs", {"tenant": "a b"}, headers=headers).status_code == 400


def test_another_tenants_job_is_a_404_to_read_cancel_and_requeue(client, acme):
    theirs = enqueue_by_alias("Noop", {}, tenant="other")
    untenanted = enqueue_by_alias("Noop", {})
    for item in (theirs, untenanted):
        assert client.get(f"{API}/jobs/{item.pk}", headers=acme).status_code == 404
        for action in ("cancel", "requeue"):
            response = client.post(f"{API}/jobs/{item.pk}/{action}", headers=acme)
            assert response.status_code == 404
    assert set(QueueItem.objects.values_list("status", flat=True)) == {"queued"}
    mine = enqueue_by_alias("Noop", {}, tenant="acme")
    assert client.get(f"{API}/jobs/{mine.pk}", headers=acme).json()["tenant"] == "acme"
    assert client.post(f"{API}/jobs/{mine.pk}/cancel", headers=acme).json()["status"] == "canceled"


def test_a_job_created_with_a_tenant_token_takes_its_tenant(client, acme):
    response = _post(client, f"{API}/jobs", {"alias": "Noop"}, acme)
    assert response.status_code == 201
    assert (response.json()["tenant"], response.json()["concurrency_key"]) == (
        "acme",
        "tenant:acme",
    )
    same = _post(client, f"{API}/jobs", {"alias": "Noop", "tenant": "acme"}, acme)
    assert same.status_code == 201


def test_a_tenant_token_cannot_create_for_another_tenant_nor_wait_for_its_items(client, acme):
    theirs = enqueue_by_alias("Noop", {}, tenant="other")
    other = _post(client, f"{API}/jobs", {"alias": "Noop", "tenant": "other"}, acme)
    assert other.status_code == 403
    waiting = _post(client, f"{API}/jobs", {"alias": "Noop", "depends_on": [theirs.pk]}, acme)
    assert waiting.status_code == 400
    assert "do not exist" in waiting.json()["error"]["message"]
    assert QueueItem.objects.count() == 1


def test_a_unique_key_held_by_another_tenant_is_not_shown(client, acme):
    held = enqueue_by_alias("Noop", {}, unique_key="k", tenant="other")
    response = _post(client, f"{API}/jobs", {"alias": "Noop", "unique_key": "k"}, acme)
    assert response.status_code == 409
    assert str(held.pk) not in response.content.decode()


def test_the_jobs_body_refuses_a_bad_tenant(client):
    headers = {"Authorization": f"Bearer {mint_token(user_with(*PERMISSIONS))}"}
    response = _post(client, f"{API}/jobs", {"alias": "Noop", "tenant": "no spaces"}, headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_name"
    assert not QueueItem.objects.exists()


def test_workflows_are_scoped_to_the_tokens_tenant(client, acme):
    theirs = enqueue_workflow(("Noop", {}), tenant="other")
    created = _post(client, f"{API}/workflows", {"workflow": {"alias": "Noop"}}, acme)
    assert created.status_code == 201
    mine = Workflow.objects.get(pk=created.json()["id"])
    assert mine.tenant == "acme"
    assert set(mine.items.values_list("tenant", flat=True)) == {"acme"}
    listed = client.get(f"{API}/workflows", headers=acme).json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert client.get(f"{API}/workflows/{theirs.pk}", headers=acme).status_code == 404
    cancel = client.post(f"{API}/workflows/{theirs.pk}/cancel", headers=acme)
    assert cancel.status_code == 404
    refused = _post(
        client, f"{API}/workflows", {"workflow": {"alias": "Noop"}, "tenant": "other"}, acme
    )
    assert refused.status_code == 403


def test_schedules_are_scoped_to_the_tokens_tenant(client, acme):
    for name, tenant in (("mine", "acme"), ("theirs", "other"), ("shared", None)):
        Schedule.objects.create(name=name, alias="Record", cron="* * * * *", tenant=tenant)
    listed = client.get(f"{API}/schedules", headers=acme).json()["results"]
    assert [(row["name"], row["tenant"]) for row in listed] == [("mine", "acme")]
    for name in ("theirs", "shared"):
        assert client.get(f"{API}/schedules/{name}", headers=acme).status_code == 404
        assert client.post(f"{API}/schedules/{name}/fire", headers=acme).status_code == 404
    fired = client.post(f"{API}/schedules/mine/fire", headers=acme)
    assert fired.status_code == 201
    assert fired.json()["tenant"] == "acme"


@pytest.mark.parametrize("path", [f"{API}/queues", f"{API}/queues/tests", "/tasks/health"])
def test_endpoints_every_tenant_shares_refuse_a_tenant_token(client, acme, path):
    response = client.get(path, headers=acme)
    assert response.status_code == 403
    assert "bound to tenant 'acme'" in response.json()["error"]["message"]


def test_metrics_refuse_a_tenant_token(client, acme):
    assert client.get("/tasks/metrics", headers=acme).status_code == 403


def _metrics(client) -> str:
    headers = {"Authorization": f"Bearer {mint_token(user_with('view_queueitem'))}"}
    response = client.get("/tasks/metrics", headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_metrics_carry_no_tenant_label_unless_enabled(client):
    enqueue_by_alias("Noop", {}, tenant="acme")
    text = _metrics(client)
    assert 'taskqueue_items{queue="tests",status="queued"} 1.0' in text
    assert "tenant=" not in text


def test_metrics_label_the_busiest_tenants_and_sum_the_others(client):
    labeled = {**settings.TASKQUEUE, "METRICS_TENANT_LABEL": True, "METRICS_TENANT_LIMIT": 2}
    for tenant, count in (("big", 3), ("mid", 2), ("small", 1), ("tiny", 1)):
        enqueue_many("Noop", [{}] * count, tenant=tenant)
    enqueue_by_alias("Noop", {})
    with override_settings(TASKQUEUE=labeled):
        text = _metrics(client)
    series = [line for line in text.splitlines() if line.startswith("taskqueue_items{")]
    assert sorted(series) == [
        'taskqueue_items{queue="tests",status="queued",tenant=""} 1.0',
        'taskqueue_items{queue="tests",status="queued",tenant="_other"} 2.0',
        'taskqueue_items{queue="tests",status="queued",tenant="big"} 3.0',
        'taskqueue_items{queue="tests",status="queued",tenant="mid"} 2.0',
    ]
