"""The HTTP API's schedules: list and read them with their next fire times, fire one now;
permissions, unknown names, wrong methods, and the items a schedule fired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskqueue.enqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Schedule

from .api_helpers import API, bearer, user_with
from .test_api import ITEM_KEYS, assert_error, parse_time

pytestmark = pytest.mark.django_db

SCHEDULE_KEYS = {
    "name",
    "alias",
    "parameters",
    "queue_name",
    "priority",
    "cron",
    "interval_seconds",
    "timezone",
    "description",
    "enabled",
    "misfire",
    "max_catch_up",
    "start_at",
    "end_at",
    "next_fire_at",
    "next_fire_times",
    "last_fired_at",
    "last_error",
    "item_count",
    "tenant",
}
JAN_2031 = datetime(2031, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def make_schedule(name: str = "nightly", **fields: object) -> Schedule:
    fields.setdefault("alias", "Record")
    if "interval_seconds" not in fields:
        fields.setdefault("cron", "0 2 * * *")
    schedule = Schedule(name=name, **fields)
    schedule.full_clean()
    schedule.save()
    return schedule


@pytest.fixture
def viewer(client: Client) -> Client:
    """A client whose requests carry a token of a user who may see schedules, not fire them."""
    client.defaults["HTTP_AUTHORIZATION"] = bearer(user_with("view_schedule"))["Authorization"]
    return client


@pytest.fixture
def firer(client: Client) -> Client:
    """A client whose requests carry a token of a user who may see and fire schedules."""
    user = user_with("view_schedule", "fire_schedule")
    client.defaults["HTTP_AUTHORIZATION"] = bearer(user)["Authorization"]
    return client


def fire(client: Client, name: str, **kwargs: object):
    return client.post(f"{API}/schedules/{name}/fire", **kwargs)


# --------------------------------------------------------------------------- GET /schedules


def test_list_shows_every_schedule_by_name_with_every_field(viewer):
    make_schedule("nightly", timezone="Europe/Berlin", parameters={"value": 1}, priority=3)
    make_schedule("every-minute", interval_seconds=60, queue_name="q1", misfire="all")
    response = viewer.get(f"{API}/schedules")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    results = response.json()["results"]
    assert [s["name"] for s in results] == ["every-minute", "nightly"]
    assert all(set(s) == SCHEDULE_KEYS for s in results)
    interval, nightly = results
    assert nightly | {"next_fire_at": None, "next_fire_times": None} == {
        "name": "nightly",
        "alias": "Record",
        "parameters": {"value": 1},
        "queue_name": None,
        "priority": 3,
        "cron": "0 2 * * *",
        "interval_seconds": None,
        "timezone": "Europe/Berlin",
        "description": "At 02:00 every day",
        "enabled": True,
        "misfire": "once",
        "max_catch_up": 100,
        "start_at": None,
        "end_at": None,
        "next_fire_at": None,
        "next_fire_times": None,
        "last_fired_at": None,
        "last_error": "",
        "item_count": 0,
        "tenant": None,
    }
    assert (interval["cron"], interval["interval_seconds"], interval["queue_name"]) == (
        None,
        60,
        "q1",
    )
    assert (interval["description"], interval["misfire"]) == ("Every minute", "all")
    # A blank timezone is the project's: the effective one is shown.
    assert interval["timezone"] == settings.TIME_ZONE


def test_next_fire_times_are_the_next_five_increasing_iso_times(viewer):
    now = timezone.now()
    make_schedule("nightly", timezone="Europe/Berlin")
    body = viewer.get(f"{API}/schedules").json()["results"][0]
    times = [parse_time(text) for text in body["next_fire_times"]]
    assert len(times) == 5
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert now < times[0] <= now + timedelta(days=1)
    assert times[0] == parse_time(body["next_fire_at"])
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert all(text.endswith("Z") for text in body["next_fire_times"])


def test_next_fire_times_follow_start_at_and_stop_at_end_at(viewer):
    make_schedule(
        "later",
        cron="30 6 * * *",
        timezone="UTC",
        start_at=JAN_2031,
        end_at=JAN_2031.replace(day=3),
    )
    make_schedule("steps", interval_seconds=90, start_at=JAN_2031)
    later, steps = viewer.get(f"{API}/schedules").json()["results"]
    assert later["next_fire_times"] == ["2031-01-01T06:30:00Z", "2031-01-02T06:30:00Z"]
    assert later["next_fire_at"] == "2031-01-01T06:30:00Z"
    assert later["start_at"] == "2031-01-01T00:00:00Z" and later["end_at"] == "2031-01-03T00:00:00Z"
    assert [parse_time(t) for t in steps["next_fire_times"]] == [
        JAN_2031 + timedelta(seconds=90 * k) for k in range(5)
    ]


def test_a_disabled_schedule_has_no_next_fire_but_shows_the_times_it_would_fire(viewer):
    make_schedule("off", enabled=False, cron="0 0 1 1 *", timezone="UTC")
    body = viewer.get(f"{API}/schedules/off").json()
    assert (body["enabled"], body["next_fire_at"]) == (False, None)
    assert [parse_time(t).month for t in body["next_fire_times"]] == [1] * 5


def test_a_schedule_whose_times_cannot_be_worked_out_is_still_listed(viewer):
    broken = make_schedule("broken")
    make_schedule("fine")
    Schedule.objects.filter(pk=broken.pk).update(cron="not a cron", last_error="Stopped: ...")
    response = viewer.get(f"{API}/schedules")
    assert response.status_code == 200
    broken_body, fine_body = response.json()["results"]
    assert (broken_body["next_fire_times"], broken_body["last_error"]) == ([], "Stopped: ...")
    assert len(fine_body["next_fire_times"]) == 5


def test_the_list_is_empty_without_schedules(viewer):
    assert viewer.get(f"{API}/schedules").json() == {"results": []}


def test_the_list_costs_the_same_queries_for_one_schedule_or_many(viewer):
    make_schedule("a")
    enqueue_by_alias("Noop")
    viewer.get(f"{API}/schedules")  # warm caches (content types, permissions)
    with CaptureQueriesContext(connection) as one:
        viewer.get(f"{API}/schedules")
    for name in ("b", "c", "d"):
        make_schedule(name, interval_seconds=60)
    with CaptureQueriesContext(connection) as many:
        assert len(viewer.get(f"{API}/schedules").json()["results"]) == 4
    assert len(many.captured_queries) == len(one.captured_queries)


# --------------------------------------------------------------------------- GET /schedules/{name}


def test_detail_is_the_list_entry(viewer):
    make_schedule("nightly", timezone="Europe/Berlin")
    make_schedule("other", interval_seconds=30)
    listed = {s["name"]: s for s in viewer.get(f"{API}/schedules").json()["results"]}
    for name, body in listed.items():
        response = viewer.get(f"{API}/schedules/{name}")
        assert response.status_code == 200
        assert response.json() == body


@pytest.mark.parametrize("name", ["missing", "NIGHTLY", "bad name!", "x" * 300, "%00"])
def test_unknown_schedule_is_404_json(firer, name):
    make_schedule("nightly")
    error = assert_error(firer.get(f"{API}/schedules/{name}"), 404, "not_found")
    assert "schedule" in error["message"]
    assert_error(fire(firer, name), 404, "not_found")
    assert not QueueItem.objects.exists()


# --------------------------------------------------------------------------- POST .../fire


def test_fire_makes_one_item_of_the_schedule_and_answers_201_with_it(firer):
    schedule = make_schedule("nightly", parameters={"value": 7}, priority=4, queue_name="q1")
    next_fire_at = schedule.next_fire_at
    before = timezone.now()
    response = fire(firer, "nightly")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ITEM_KEYS
    item = QueueItem.objects.get()
    assert item.schedule_id == schedule.pk
    assert response["Location"] == f"{API}/jobs/{item.pk}"
    assert body["id"] == item.pk
    assert (body["alias"], body["status"], body["queue"], body["priority"]) == (
        "Record",
        "queued",
        "q1",
        4,
    )
    assert (body["parameters"], body["schedule"]) == ({"value": 7}, "nightly")
    # Times in JSON are cut to milliseconds.
    assert before - MS <= parse_time(body["scheduled_for"]) <= timezone.now()
    # The timing stays; the schedule says when it last fired, and counts the item.
    schedule.refresh_from_db()
    assert schedule.next_fire_at == next_fire_at
    assert schedule.last_fired_at == item.scheduled_for
    shown = firer.get(f"{API}/schedules/nightly").json()
    assert shown["item_count"] == 1
    assert abs(parse_time(shown["last_fired_at"]) - item.scheduled_for) < MS
    # The item reads back the same through /jobs.
    reader = Client(headers=bearer(user_with("view_queueitem", username="reader")))
    assert reader.get(response["Location"]).json() == body


def test_each_fire_is_one_more_item(firer):
    make_schedule("nightly")
    ids = [fire(firer, "nightly").json()["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert QueueItem.objects.filter(schedule__name="nightly").count() == 3
    assert firer.get(f"{API}/schedules/nightly").json()["item_count"] == 3


def test_a_disabled_schedule_fires_when_asked_and_stays_disabled(firer):
    schedule = make_schedule("off", enabled=False)
    assert fire(firer, "off").status_code == 201
    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_fire_at) == (False, None)
    assert QueueItem.objects.filter(schedule=schedule).count() == 1


def test_fire_is_audited_under_the_caller(client):
    schedule = make_schedule("nightly")
    user = user_with("view_schedule", "fire_schedule")
    item_id = fire(client, "nightly", headers=bearer(user)).json()["id"]
    (entry,) = LogEntry.objects.filter(object_id=str(schedule.pk))
    assert (entry.user_id, entry.object_repr) == (user.pk, "nightly")
    assert entry.change_message == f"Fired now: item #{item_id} (via api)"


def test_fire_ignores_any_body(firer):
    make_schedule("nightly")
    response = fire(firer, "nightly", data=b"\xff[", content_type="application/json")
    assert response.status_code == 201


def test_fire_of_a_schedule_whose_task_is_gone_is_400_and_writes_nothing(firer):
    schedule = make_schedule("nightly")
    Schedule.objects.filter(pk=schedule.pk).update(alias="NoSuchTask")
    assert_error(fire(firer, "nightly"), 400, "unknown_alias")
    schedule.refresh_from_db()
    assert schedule.last_fired_at is None
    assert not QueueItem.objects.exists()
    assert not LogEntry.objects.exists()


# --------------------------------------------------------------------------- items of schedules


def test_items_show_their_schedule_and_fire_time_everywhere(client):
    make_schedule("nightly")
    fired = fire(client, "nightly", headers=bearer(user_with("view_schedule", "fire_schedule")))
    plain = enqueue_by_alias("Noop")
    headers = bearer(user_with("view_queueitem", username="reader"))
    listed = client.get(f"{API}/jobs", headers=headers).json()["results"]
    by_id = {body["id"]: body for body in listed}
    assert by_id[fired.json()["id"]]["schedule"] == "nightly"
    assert by_id[fired.json()["id"]]["scheduled_for"] == fired.json()["scheduled_for"]
    assert (by_id[plain.pk]["schedule"], by_id[plain.pk]["scheduled_for"]) == (None, None)
    one = client.get(f"{API}/jobs/{plain.pk}", headers=headers).json()
    assert (one["schedule"], one["scheduled_for"]) == (None, None)


def test_an_item_outlives_its_deleted_schedule(client):
    schedule = make_schedule("nightly")
    fired = fire(client, "nightly", headers=bearer(user_with("view_schedule", "fire_schedule")))
    schedule.delete()
    headers = bearer(user_with("view_queueitem", username="reader"))
    body = client.get(f"{API}/jobs/{fired.json()['id']}", headers=headers).json()
    assert body["schedule"] is None


def test_soft_deleted_items_are_not_counted(firer):
    make_schedule("nightly")
    fire(firer, "nightly")
    QueueItem.objects.get().soft_delete()
    fire(firer, "nightly")
    assert firer.get(f"{API}/schedules/nightly").json()["item_count"] == 1


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    "codenames",
    [(), ("view_queueitem", "add_queueitem"), ("fire_schedule",), ("change_schedule",)],
)
def test_seeing_schedules_needs_the_view_permission(client, codenames):
    make_schedule("nightly")
    headers = bearer(user_with(*codenames))
    assert_error(client.get(f"{API}/schedules", headers=headers), 403, "permission_denied")
    assert_error(client.get(f"{API}/schedules/nightly", headers=headers), 403, "permission_denied")


@pytest.mark.parametrize(
    "codenames",
    [
        ("view_schedule",),
        ("view_schedule", "change_schedule", "add_queueitem", "view_queueitem"),
        ("fire_schedule",),
    ],
)
def test_firing_needs_the_view_and_fire_permissions_and_refusals_create_nothing(client, codenames):
    schedule = make_schedule("nightly")
    response = fire(client, "nightly", headers=bearer(user_with(*codenames)))
    assert_error(response, 403, "permission_denied")
    assert not QueueItem.objects.exists()
    schedule.refresh_from_db()
    assert schedule.last_fired_at is None
    assert not LogEntry.objects.exists()


def test_a_refused_caller_learns_nothing_of_which_names_exist(client):
    headers = bearer(user_with("view_schedule"))
    assert_error(fire(client, "missing", headers=headers), 403, "permission_denied")


@pytest.mark.parametrize("path", ["/schedules", "/schedules/nightly", "/schedules/missing"])
def test_unauthenticated_is_401(client, path):
    make_schedule("nightly")
    error = assert_error(client.get(f"{API}{path}"), 401, "not_authenticated")
    assert error["message"]
    response = client.get(f"{API}{path}", headers={"Authorization": "Bearer nope"})
    assert_error(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer ")


def test_unauthenticated_fire_is_401_and_creates_nothing(client):
    make_schedule("nightly")
    response = fire(client, "nightly")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="django-taskqueue"'
    assert not QueueItem.objects.exists()


def test_a_session_may_fire_with_its_csrf_token_only():
    make_schedule("nightly")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("view_schedule", "fire_schedule"))
    assert client.get(f"{API}/schedules/nightly").status_code == 200
    assert_error(fire(client, "nightly"), 403, "csrf_failed")
    assert not QueueItem.objects.exists()
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    assert fire(client, "nightly", headers={"X-CSRFToken": token}).status_code == 201


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("post", "/schedules", "GET"),
        ("delete", "/schedules", "GET"),
        ("post", "/schedules/nightly", "GET"),
        ("patch", "/schedules/nightly", "GET"),
        ("delete", "/schedules/nightly", "GET"),
        ("get", "/schedules/nightly/fire", "POST"),
        ("put", "/schedules/nightly/fire", "POST"),
    ],
)
def test_wrong_method_is_405_json_with_allow(firer, method, path, allow):
    make_schedule("nightly")
    response = getattr(firer, method)(f"{API}{path}")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allow
    assert not QueueItem.objects.exists()


def test_unknown_paths_under_schedules_are_404_json(firer):
    make_schedule("nightly")
    assert_error(firer.post(f"{API}/schedules/nightly/fire/now"), 404, "not_found")
    assert_error(firer.get(f"{API}/schedules/nightly/items"), 404, "not_found")
