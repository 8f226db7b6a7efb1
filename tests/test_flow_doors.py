"""Flow control at every door: why an item waits, and queue limits from the admin dashboard,
the CLI and the HTTP API, with the same names and rules everywhere."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.actions import set_queue_limits, set_queue_paused
from django_taskqueue.exceptions import InvalidValue
from django_taskqueue.models import LimitStart, QueueItem, QueueState, TaskDefinition
from django_taskqueue.store import get_store

from .api_helpers import API, bearer, user_with
from .test_admin import messages_of, staff_client

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:django_taskqueue_queuestate_changelist")
SET_LIMITS = reverse("admin:django_taskqueue_queuestate_set_limits")


def _running(alias: str, count: int, key: str | None = None) -> None:
    for _ in range(count):
        item = enqueue_by_alias(alias, {}, concurrency_key=key)
        QueueItem.objects.filter(pk=item.pk).update(status="running", started_at=timezone.now())


def _reason(item: QueueItem) -> str | None:
    return get_store().waiting_reasons([item]).get(item.pk)


# --------------------------------------------------------------------------- why it waits


def test_an_item_next_in_line_has_no_reason():
    assert _reason(enqueue_by_alias("Stamp", {})) is None


def test_a_busy_key_says_so():
    _running("OnePerKey", 1, key="customer:42")
    waiting = enqueue_by_alias("OnePerKey", {}, concurrency_key="customer:42")
    other = enqueue_by_alias("OnePerKey", {}, concurrency_key="customer:7")
    assert _reason(waiting) == "key customer:42 busy"
    assert _reason(other) is None


def test_a_full_definition_rate_names_the_definition():
    definition = TaskDefinition.objects.for_alias("RateLimited")
    now = timezone.now()
    LimitStart.objects.bulk_create(
        [LimitStart(scope=f"definition:{definition.pk}", started_at=now)] * 20
    )
    assert _reason(enqueue_by_alias("RateLimited", {})) == "rate limit of RateLimited"


def test_a_full_concurrency_limit_names_the_definition():
    _running("LimitedToTwo", 2)
    assert _reason(enqueue_by_alias("LimitedToTwo", {})) == "concurrency limit of LimitedToTwo"


def test_queue_limits_paused_queues_and_later_run_at_say_so():
    set_queue_limits("tests", concurrency_limit=1, rate_limit=None)
    _running("Stamp", 1)
    assert _reason(enqueue_by_alias("Stamp", {})) == "concurrency limit of queue tests"
    later = enqueue_by_alias("Record", {}, queue_name="later", delay=timedelta(hours=1))
    assert _reason(later).startswith("scheduled for ")
    set_queue_paused("tests", True)
    assert _reason(enqueue_by_alias("Stamp", {})) == "queue tests is paused"


def test_the_api_and_the_admin_show_the_reason(client):
    _running("OnePerKey", 1, key="customer:42")
    waiting = enqueue_by_alias("OnePerKey", {}, concurrency_key="customer:42")
    headers = bearer(user_with("view_queueitem"))
    body = client.get(f"{API}/jobs/{waiting.pk}", headers=headers).json()
    assert body["waiting_reason"] == "key customer:42 busy"
    assert body["concurrency_key"] == "customer:42"
    listed = client.get(f"{API}/jobs?status=queued", headers=headers).json()["results"]
    assert [row["waiting_reason"] for row in listed] == ["key customer:42 busy"]
    page = staff_client("view_queueitem").get(
        reverse("admin:django_taskqueue_queueitem_change", args=[waiting.pk])
    )
    assert "key customer:42 busy" in page.content.decode()


def test_the_api_enqueues_with_a_concurrency_key_and_refuses_a_bad_one(client):
    headers = bearer(user_with("view_queueitem", "add_queueitem"))
    good = client.post(
        f"{API}/jobs",
        {"alias": "OnePerKey", "concurrency_key": "customer:1"},
        content_type="application/json",
        headers=headers,
    )
    assert good.status_code == 201, good.content
    assert QueueItem.objects.get(pk=good.json()["id"]).concurrency_key == "customer:1"
    bad = client.post(
        f"{API}/jobs",
        {"alias": "OnePerKey", "concurrency_key": 42},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 400 and "concurrency_key" in bad.json()["error"]["message"]
    assert QueueItem.objects.count() == 1


# --------------------------------------------------------------------------- queue limits


def test_the_dashboard_sets_and_lifts_a_queues_limits():
    enqueue_by_alias("Stamp", {})
    client = staff_client("view_queuestate", "change_queuestate")
    page = client.get(DASHBOARD).content.decode()
    assert 'name="rate_limit"' in page
    response = client.post(
        SET_LIMITS, {"queue": "tests", "concurrency_limit": "3", "rate_limit": "20/s"}, follow=True
    )
    assert any("at most 3 running" in m for m in messages_of(response))
    state = QueueState.objects.get(name="tests")
    assert (state.concurrency_limit, state.rate_limit) == (3, "20/s")
    client.post(SET_LIMITS, {"queue": "tests", "concurrency_limit": "", "rate_limit": ""})
    state.refresh_from_db()
    assert (state.concurrency_limit, state.rate_limit) == (None, "")


@pytest.mark.parametrize(
    "fields", [{"concurrency_limit": "0"}, {"concurrency_limit": "x"}, {"rate_limit": "fast"}]
)
def test_the_dashboard_refuses_bad_limits_and_changes_nothing(fields):
    set_queue_limits("tests", concurrency_limit=2, rate_limit="5/s")
    client = staff_client("view_queuestate", "change_queuestate")
    response = client.post(SET_LIMITS, {"queue": "tests", **fields}, follow=True)
    assert response.status_code == 200
    assert any("tests:" in m for m in messages_of(response))
    state = QueueState.objects.get(name="tests")
    assert (state.concurrency_limit, state.rate_limit) == (2, "5/s")


def test_the_dashboard_needs_the_change_permission_to_set_limits():
    client = staff_client("view_queuestate")
    assert client.post(SET_LIMITS, {"queue": "tests", "rate_limit": "1/s"}).status_code == 403
    assert not QueueState.objects.exists()


def test_the_cli_shows_and_sets_queue_limits():
    out = StringIO()
    call_command("taskqueue", "queue-limits", "emails", "--rate-limit", "20/s", stdout=out)
    call_command("taskqueue", "queue-limits", "emails", "--concurrency-limit", "4", stdout=out)
    state = QueueState.objects.get(name="emails")
    assert (state.concurrency_limit, state.rate_limit) == (4, "20/s")
    out = StringIO()
    call_command("taskqueue", "queue-limits", stdout=out)
    assert "emails" in out.getvalue() and "20/s" in out.getvalue()
    call_command("taskqueue", "queue-limits", "emails", "--rate-limit", "none", stdout=out)
    assert QueueState.objects.get(name="emails").rate_limit == ""
    with pytest.raises(CommandError):
        call_command("taskqueue", "queue-limits", "--rate-limit", "2/s")


def test_the_cli_enqueues_with_a_concurrency_key():
    out = StringIO()
    call_command("taskqueue", "enqueue", "OnePerKey", "--concurrency-key", "c:1", stdout=out)
    assert QueueItem.objects.get(pk=int(out.getvalue())).concurrency_key == "c:1"


def test_the_api_lists_and_sets_queue_limits(client):
    enqueue_by_alias("Stamp", {})
    viewer = bearer(user_with("view_queueitem", username="viewer"))
    manager = bearer(user_with("view_queueitem", "change_queuestate", username="manager"))
    url = f"{API}/queues/tests"
    patch = {"concurrency_limit": 5, "rate_limit": "20/s"}
    refused = client.patch(url, patch, content_type="application/json", headers=viewer)
    assert refused.status_code == 403
    done = client.patch(url, patch, content_type="application/json", headers=manager)
    assert done.json() == {"name": "tests", "paused": False, **patch}
    partial = client.patch(
        url, {"rate_limit": None}, content_type="application/json", headers=manager
    )
    assert partial.json()["rate_limit"] is None and partial.json()["concurrency_limit"] == 5
    listed = client.get(f"{API}/queues", headers=viewer).json()["results"]
    assert {"name": "tests", "paused": False, "concurrency_limit": 5, "rate_limit": None} in listed
    for body in (
        {"rate_limit": "20/d"},
        {"concurrency_limit": 0},
        {"limit": 1},
        {"concurrency_limit": "5"},
    ):
        bad = client.patch(url, body, content_type="application/json", headers=manager)
        assert bad.status_code == 400, (body, bad.content)
    assert QueueState.objects.get(name="tests").concurrency_limit == 5


def test_set_queue_limits_refuses_bad_values():
    for kwargs in (
        {"concurrency_limit": -1, "rate_limit": None},
        {"concurrency_limit": None, "rate_limit": "1/y"},
    ):
        with pytest.raises(InvalidValue):
            set_queue_limits("tests", **kwargs)
    assert not QueueState.objects.exists()


@pytest.mark.parametrize(
    "option", [["--concurrency-limit", "x"], ["--concurrency-limit", "0"], ["--rate-limit", "2/d"]]
)
def test_the_cli_refuses_bad_queue_limits_and_changes_nothing(option):
    set_queue_limits("emails", concurrency_limit=2, rate_limit="5/s")
    with pytest.raises(CommandError):
        call_command("taskqueue", "queue-limits", "emails", *option, stdout=StringIO())
    state = QueueState.objects.get(name="emails")
    assert (state.concurrency_limit, state.rate_limit) == (2, "5/s")


@pytest.mark.parametrize(
    "options",
    [
        {"key_concurrency_limit": 0},
        {"key_concurrency_limit": "1"},
        {"key_rate_limit": "5 per second"},
        {"rate_limit": 20},
    ],
)
def test_a_bad_per_key_limit_is_refused_at_import(options):
    from django_taskqueue import handler

    with pytest.raises(InvalidValue):
        handler("BadKeyLimit", **options)
