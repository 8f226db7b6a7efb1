"""The HTTP API's endpoints: enqueue, read, list, cancel/requeue, health and metrics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from django_taskqueue.actions import set_queue_paused
from django_taskqueue.enqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner, TaskDefinition

from .api_helpers import API, bearer, live_runner, user_with

pytestmark = pytest.mark.django_db

ITEM_KEYS = {
    "id",
    "alias",
    "queue",
    "status",
    "parameters",
    "output",
    "attempts",
    "max_attempts",
    "priority",
    "run_at",
    "created_at",
    "started_at",
    "completed_at",
    "cancel_requested",
    "last_error",
    "last_error_class",
    "last_error_message",
    "details",
    "unique_key",
    "concurrency_key",
    "schedule",
    "scheduled_for",
    "waiting_reason",
    "workflow_id",
    "parents",
    "children",
    "on_parent_failure",
    "tenant",
}
EVERY_PERMISSION = (
    "view_queueitem",
    "add_queueitem",
    "cancel_queueitem",
    "requeue_queueitem",
)


@pytest.fixture
def api(client: Client) -> Client:
    """A client whose every request carries a token of a user allowed to do everything."""
    client.defaults["HTTP_AUTHORIZATION"] = bearer(user_with(*EVERY_PERMISSION))["Authorization"]
    return client


def post(api: Client, path: str, body: object = None, **kwargs: object):
    return api.post(f"{API}{path}", body, content_type="application/json", **kwargs)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message"} and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- POST /jobs


def test_enqueue_returns_201_with_the_item_and_its_location(api):
    response = post(
        api, "/jobs", {"alias": "Record", "parameters": {"value": 7}, "queue": "q1", "priority": 5}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ITEM_KEYS
    item = QueueItem.objects.get()
    assert response["Location"] == f"{API}/jobs/{item.pk}"
    assert body["id"] == item.pk
    assert (body["alias"], body["status"], body["queue"], body["priority"]) == (
        "Record",
        "queued",
        "q1",
        5,
    )
    assert (item.parameters, item.queue_name, item.priority) == ({"value": 7}, "q1", 5)
    assert api.get(response["Location"]).json() == body


def test_enqueue_uses_definition_defaults_and_accepts_type_for_alias(api):
    body = post(api, "/jobs", {"type": "FlakyUntil", "parameters": {"succeed_on": 1}}).json()
    assert (body["alias"], body["queue"], body["max_attempts"], body["parameters"]) == (
        "FlakyUntil",
        "tests",
        4,
        {"succeed_on": 1},
    )


def test_enqueue_run_at_and_delay(api):
    at = post(api, "/jobs", {"alias": "Noop", "run_at": "2031-05-06T07:08:09+02:00"}).json()
    assert parse_time(at["run_at"]) == datetime(2031, 5, 6, 5, 8, 9, tzinfo=UTC)
    before = timezone.now()
    later = QueueItem.objects.get(
        pk=post(api, "/jobs", {"alias": "Noop", "delay": 90}).json()["id"]
    )
    assert before + timedelta(seconds=89) < later.run_at < timezone.now() + timedelta(seconds=91)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"alias": "NoSuchTask"}, "unknown_alias"),
        ({"alias": "Noop", "parameters": [1, 2]}, "invalid_parameters"),
        ({"alias": "Noop", "parameters": {"text": "nul\u0000"}}, "invalid_parameters"),
        ({"alias": "Noop", "parameters": {"text": "\ud800"}}, "invalid_parameters"),
        # Raw text: 1e400 parses to infinity, which the test client could not send as JSON.
        (b'{"alias": "Noop", "parameters": {"n": 1e400}}', "invalid_parameters"),
        ({"alias": "Noop", "priority": "high"}, "invalid_parameters"),
        ({"alias": "Noop", "priority": 10**30}, "invalid_parameters"),
        ({"alias": "Noop", "priority": 1.5}, "invalid_parameters"),
        ({"alias": "Noop", "queue": "bad queue!"}, "invalid_name"),
        ({"alias": "Noop", "queue": ["q"]}, "invalid_name"),
        ({"alias": "bad alias!"}, "invalid_name"),
        ({"alias": {"x": [1, {"y": None}]}}, "invalid_name"),
        ({"alias": None}, "invalid_name"),
        ({"alias": "Noop", "delay": 5, "run_at": "2031-01-01T00:00:00Z"}, "invalid_parameters"),
        ({"alias": "Noop", "run_at": "2031-01-01T00:00:00"}, "invalid_request"),
        ({"alias": "Noop", "run_at": "tomorrow"}, "invalid_request"),
        ({"alias": "Noop", "run_at": "2031-02-30T00:00:00Z"}, "invalid_request"),
        ({"alias": "Noop", "run_at": "9999-12-31T23:59:59-05:00"}, "invalid_request"),
        ({"alias": "Noop", "run_at": 1700000000}, "invalid_request"),
        ({"alias": "Noop", "delay": -1}, "invalid_request"),
        ({"alias": "Noop", "delay": "soon"}, "invalid_request"),
        ({"alias": "Noop", "delay": True}, "invalid_request"),
        (b'{"alias": "Noop", "delay": 1e400}', "invalid_request"),
        ({"alias": "Noop", "delay": 10**400}, "invalid_request"),
        ({"alias": "Noop", "delay": 1e15}, "invalid_request"),
        ({"alias": "Noop", "type": "Noop"}, "invalid_request"),
        ({"parameters": {}}, "invalid_request"),
        ({"alias": "Noop", "params": {}}, "invalid_request"),
    ],
)
def test_invalid_enqueue_requests_are_400_and_write_nothing(api, body, code):
    assert_error(post(api, "/jobs", body), 400, code)
    assert not QueueItem.all_objects.exists()


def test_inactive_definition_is_400(api):
    enqueue_by_alias("Noop")
    TaskDefinition.objects.filter(alias="Noop").update(is_active=False)
    assert_error(post(api, "/jobs", {"alias": "Noop"}), 400, "inactive_definition")
    assert QueueItem.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"alias": "Noop", "priority": 2**31 - 1},
        {"alias": "Noop", "priority": -(2**31)},
        {"alias": "Noop", "run_at": "1970-01-01T00:00:00Z"},
        {"alias": "Noop", "run_at": "2999-12-31T23:59:59.999999Z"},
        {"alias": "Noop", "delay": 0},
        {"alias": "Noop", "parameters": {"big": 10**300 - 1, "tiny": 1e-300, "deep": [[[[[]]]]]}},
    ],
)
def test_edge_values_that_are_valid_are_stored_and_read_back(api, body):
    response = post(api, "/jobs", body)
    assert response.status_code == 201, response.content
    assert api.get(response["Location"]).json() == response.json()
    if "parameters" in body:
        assert QueueItem.objects.get().parameters == body["parameters"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="array"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="number"),
        pytest.param(b'"Noop"', id="string"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"alias": "Noop",}', id="trailing-comma"),
        pytest.param(b'{"alias": NaN}', id="nan"),
        pytest.param(b'{"alias": "Noop", "priority": Infinity}', id="infinity"),
        pytest.param(b'{"alias": "\xff\xfe"}', id="non-utf8"),
        pytest.param(b"\xef\xbb\xbf{}", id="utf8-bom"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deep-array"),
        pytest.param(
            b'{"alias": "Noop", "parameters": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
            id="deep-parameters",
        ),
        pytest.param(b'{"alias": "Noop", "priority": ' + b"9" * 5000 + b"}", id="huge-int"),
        pytest.param(b'{"alias": "Noop", "delay": 1' + b"0" * 400 + b"}", id="huge-delay"),
    ],
)
def test_odd_bodies_are_400_json_and_write_nothing(api, raw):
    response = api.post(f"{API}/jobs", raw, content_type="application/json")
    assert_error(response, 400)
    assert not QueueItem.all_objects.exists()


def test_body_over_the_upload_limit_is_413(api):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        body = {"alias": "Noop", "parameters": {"pad": "x" * 200}}
        assert_error(post(api, "/jobs", body), 413, "request_too_large")
    assert not QueueItem.objects.exists()


def test_parameters_over_the_size_setting_are_400(api):
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, "MAX_PARAMETERS_BYTES": 50}):
        body = {"alias": "Noop", "parameters": {"pad": "x" * 100}}
        assert_error(post(api, "/jobs", body), 400, "invalid_parameters")
    assert not QueueItem.objects.exists()


# --------------------------------------------------------------------------- GET /jobs/{id}


def test_get_job_shows_every_field(api):
    item = enqueue_by_alias("Record", {"value": "x"})
    now = timezone.now()
    QueueItem.objects.filter(pk=item.pk).update(
        status="failed",
        attempts=1,
        started_at=now,
        completed_at=now,
        output={"partial": True},
        last_error="Traceback: boom",
        details="line 1\nline 2",
    )
    body = api.get(f"{API}/jobs/{item.pk}").json()
    assert set(body) == ITEM_KEYS
    assert body["status"] == "failed"
    assert body["output"] == {"partial": True}
    assert body["last_error"] == "Traceback: boom"
    assert body["details"] == "line 1\nline 2"
    assert abs(parse_time(body["completed_at"]) - now) < timedelta(milliseconds=2)


@pytest.mark.parametrize("item_id", ["999999", "9" * 30, "0"])
def test_unknown_job_is_404_json(api, item_id):
    assert_error(api.get(f"{API}/jobs/{item_id}"), 404, "not_found")
    assert_error(post(api, f"/jobs/{item_id}/cancel"), 404, "not_found")


def test_soft_deleted_job_is_404(api):
    item = enqueue_by_alias("Noop")
    item.soft_delete()
    assert_error(api.get(f"{API}/jobs/{item.pk}"), 404, "not_found")


# --------------------------------------------------------------------------- GET /jobs


def test_list_pages_newest_first_with_a_cursor(api):
    ids = [enqueue_by_alias("Noop").pk for _ in range(5)]
    seen: list[int] = []
    url = f"{API}/jobs?limit=2"
    pages = 0
    while url:
        body = api.get(url).json()
        pages += 1
        seen += [item["id"] for item in body["results"]]
        url = f"{API}/jobs?limit=2&cursor={body['next']}" if body["next"] else None
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


def test_list_filters_by_status_queue_and_alias(api):
    noop = enqueue_by_alias("Noop")
    record = enqueue_by_alias("Record", queue_name="other")
    done = enqueue_by_alias("Record")
    QueueItem.objects.filter(pk=done.pk).update(status="success")

    def ids(query: str) -> list[int]:
        response = api.get(f"{API}/jobs?{query}")
        assert response.status_code == 200
        return [item["id"] for item in response.json()["results"]]

    assert ids("status=success") == [done.pk]
    assert ids("queue=other") == [record.pk]
    assert ids("alias=Record") == [done.pk, record.pk]
    assert ids("alias=Record&status=queued") == [record.pk]
    assert ids("alias=Noop&queue=tests") == [noop.pk]
    assert ids("alias=Missing") == []
    assert ids("") == [done.pk, record.pk, noop.pk]


def test_list_limit_defaults_to_50_and_allows_up_to_500(api):
    enqueue_many("Noop", [{}] * 51)
    default = api.get(f"{API}/jobs").json()
    assert len(default["results"]) == 50 and default["next"] is not None
    largest = api.get(f"{API}/jobs?limit=500").json()
    assert len(largest["results"]) == 51 and largest["next"] is None


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=abc",
        "limit=%C2%B2",
        "limit=" + "9" * 50,
        "cursor=abc",
        "cursor=-5",
        "cursor=" + "9" * 50,
        "queue=bad%20name",
        "alias=%00",
    ],
)
def test_invalid_list_queries_are_400(api, query):
    assert_error(api.get(f"{API}/jobs?{query}"), 400)


def test_cursor_beyond_the_integer_range_is_just_empty_or_full(api):
    enqueue_by_alias("Noop")
    response = api.get(f"{API}/jobs?cursor=9999999999999999999")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


# --------------------------------------------------------------------------- cancel, requeue


def test_cancel_a_queued_job(api):
    item = enqueue_by_alias("Noop")
    response = post(api, f"/jobs/{item.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    item.refresh_from_db()
    assert item.status == QueueItem.Status.CANCELED and item.completed_at is not None


def test_cancel_a_running_job_asks_the_runner(api):
    item = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=item.pk).update(status="running", started_at=timezone.now())
    body = post(api, f"/jobs/{item.pk}/cancel").json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)


def test_cancel_a_finished_job_is_409_and_changes_nothing(api):
    item = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=item.pk).update(status="success")
    error = assert_error(post(api, f"/jobs/{item.pk}/cancel"), 409, "invalid_transition")
    assert "success" in error["message"]
    item.refresh_from_db()
    assert item.status == QueueItem.Status.SUCCESS


def test_requeue_a_failed_job(api):
    item = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=item.pk).update(status="failed", attempts=3, output="x")
    body = post(api, f"/jobs/{item.pk}/requeue").json()
    assert (body["status"], body["attempts"], body["output"]) == ("queued", 0, None)


def test_requeue_a_queued_job_is_409(api):
    item = enqueue_by_alias("Noop")
    assert_error(post(api, f"/jobs/{item.pk}/requeue"), 409, "invalid_transition")


def test_action_bodies_are_ignored_even_when_junk(api):
    item = enqueue_by_alias("Noop")
    response = api.post(f"{API}/jobs/{item.pk}/cancel", b"\xff[", content_type="application/json")
    assert response.status_code == 200


# --------------------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("delete", f"{API}/jobs", "GET, POST"),
        ("put", f"{API}/jobs", "GET, POST"),
        ("post", f"{API}/jobs/1", "GET"),
        ("delete", f"{API}/jobs/1", "GET"),
        ("get", f"{API}/jobs/1/cancel", "POST"),
        ("get", f"{API}/jobs/1/requeue", "POST"),
        ("post", "/tasks/health", "GET"),
        ("options", "/tasks/metrics", "GET"),
    ],
)
def test_wrong_method_is_405_json_with_allow(api, method, path, allow):
    response = getattr(api, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allow


# --------------------------------------------------------------------------- /health


def test_health_without_a_live_runner_is_degraded(api):
    enqueue_by_alias("Noop")
    response = api.get("/tasks/health")
    assert response.status_code == 503  # what load balancers and Kubernetes probes read
    body = response.json()
    assert body["status"] == "degraded"
    assert body["live_runners"] == 0
    assert any("runner" in problem for problem in body["problems"])
    assert body["queues"]["tests"]["depth"] == 1


def test_health_with_a_live_runner_is_ok_and_shows_queue_depths(api):
    live_runner()
    Runner.objects.create(
        id="dead",
        hostname="host",
        pid=2,
        concurrency=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    for _ in range(3):
        enqueue_by_alias("Noop")
    enqueue_by_alias("Noop", queue_name="mail")
    set_queue_paused("mail", True)
    response = api.get("/tasks/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["problems"], body["live_runners"]) == ("ok", [], 1)
    assert body["queues"]["tests"]["depth"] == 3
    assert body["queues"]["mail"]["depth"] == 1
    assert body["queues"]["mail"]["paused"] is True
    assert body["queues"]["tests"]["oldest_queued_age_seconds"] >= 0


def test_health_with_stuck_items_is_degraded(api):
    live_runner()
    item = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=item.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=1)
    )
    body = api.get("/tasks/health").json()
    assert body["status"] == "degraded"
    assert body["queues"]["tests"]["stuck"] == 1
    assert any("stopped heartbeating" in problem for problem in body["problems"])


def test_health_names_a_stale_runner(api):
    live_runner()
    Runner.objects.create(
        id="silent",
        hostname="web7",
        pid=42,
        queues=["tests"],
        concurrency=1,
        heartbeat_at=timezone.now() - timedelta(seconds=40),  # past 3 x 5 s, within 5 min
    )
    response = api.get("/tasks/health")
    assert response.status_code == 503
    (problem,) = response.json()["problems"]
    assert problem.startswith("Runner web7:42 has not sent a heartbeat for 4")


def overdue(queue: str, seconds: float) -> QueueItem:
    item = enqueue_by_alias("Noop", queue_name=queue)
    QueueItem.objects.filter(pk=item.pk).update(run_at=timezone.now() - timedelta(seconds=seconds))
    return item


def test_health_names_a_queue_whose_due_items_wait_with_no_runner_serving_it(api):
    live_runner()  # serves "tests"
    overdue("reports", 400)
    overdue("tests", 4000)  # a backlog on a served queue is not this problem
    overdue("later", -4000)  # not due yet
    response = api.get("/tasks/health")
    assert response.status_code == 503
    (problem,) = response.json()["problems"]
    assert problem.startswith("Queue 'reports': the oldest due item has waited 40")
    assert "HEALTH_MAX_WAIT_SECONDS, 300 s" in problem


@pytest.mark.parametrize("case", ["recent", "paused", "threshold"])
def test_health_forgives_unserved_queues_that_are_recent_paused_or_under_the_threshold(api, case):
    live_runner()
    overdue("reports", 10 if case == "recent" else 400)
    if case == "paused":
        set_queue_paused("reports", True)
    limits = {"HEALTH_MAX_WAIT_SECONDS": 1000} if case == "threshold" else {}
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, **limits}):
        response = api.get("/tasks/health")
    assert (response.status_code, response.json()["problems"]) == (200, [])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("public", [True, False])
def test_unreachable_database_is_503_json(client, tmp_path, public):
    headers = bearer(user_with("view_queueitem"))
    real_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        unreachable = str(tmp_path / "no-such-dir" / "db.sqlite3")
    else:
        unreachable = "taskqueue_no_such_database"
    connection.close()
    connection.settings_dict["NAME"] = unreachable
    try:
        with override_settings(TASKQUEUE={**settings.TASKQUEUE, "API_HEALTH_PUBLIC": public}):
            response = client.get("/tasks/health", headers={} if public else headers)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = real_name
    assert_error(response, 503, "database_unavailable")
    assert client.get("/tasks/health", headers=headers).json()["status"] == "degraded"


# --------------------------------------------------------------------------- /metrics

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)+\})? -?[0-9.e+]+$')


def metric_lines(api: Client) -> list[str]:
    response = api.get("/tasks/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert text.endswith("\n")
    lines = text.splitlines()
    for line in lines:
        assert line.startswith(("# HELP ", "# TYPE ")) or SAMPLE.match(line), line
    return lines


def test_metrics_expose_counts_runners_and_ages(api):
    live_runner()
    enqueue_by_alias("Noop", run_at=timezone.now() - timedelta(seconds=30))
    enqueue_by_alias("Noop")
    failed = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=failed.pk).update(status="failed", completed_at=timezone.now())
    lines = metric_lines(api)
    assert 'taskqueue_items{queue="tests",status="queued"} 2.0' in lines
    assert 'taskqueue_items{queue="tests",status="failed"} 1.0' in lines
    assert 'taskqueue_items{queue="tests",status="running"} 0.0' in lines
    assert 'taskqueue_items_finished_recent{queue="tests"} 1.0' in lines
    assert 'taskqueue_items_failed_last_hour{queue="tests"} 1.0' in lines
    assert 'taskqueue_queue_paused{queue="tests"} 0.0' in lines
    assert "taskqueue_runners_live 1.0" in lines
    (age,) = [line for line in lines if line.startswith("taskqueue_oldest_queued_age_seconds")]
    assert 29 <= float(age.split()[-1]) < 300
    assert "# TYPE taskqueue_items gauge" in lines
    help_lines = [line for line in lines if line.startswith("# HELP taskqueue_items_finished")]
    assert "15 minutes" in help_lines[0] and "not a total" in help_lines[0]


def test_metrics_escape_label_values(api):
    item = enqueue_by_alias("Noop")
    QueueItem.objects.filter(pk=item.pk).update(queue_name='we"ird\\queue\nname')
    lines = metric_lines(api)
    assert 'taskqueue_items{queue="we\\"ird\\\\queue\\nname",status="queued"} 1.0' in lines


def test_metrics_with_no_queues_still_report_runners(api):
    assert "taskqueue_runners_live 0.0" in metric_lines(api)


@pytest.mark.django_db(transaction=True)
def test_metrics_have_run_time_and_wait_histograms_per_queue_and_alias(api):
    from tests.conftest import drain

    enqueue_many("Record", [{"value": n} for n in range(3)])
    sleeper = enqueue_by_alias("Record", {"sleep": 0.2})
    drain()
    lines = metric_lines(api)
    run = [line for line in lines if line.startswith("taskqueue_run_duration_seconds")]
    assert (
        'taskqueue_run_duration_seconds_bucket{alias="Record",le="+Inf",queue="tests"} 4.0' in run
    )
    slow = 'taskqueue_run_duration_seconds_bucket{alias="Record",le="0.1",queue="tests"} '
    (under_100ms,) = [line for line in run if line.startswith(slow)]
    assert float(under_100ms.split()[-1]) == 3.0  # the 0.2 s item is in a later bucket
    (total,) = [line for line in run if line.startswith("taskqueue_run_duration_seconds_gsum")]
    assert 0.2 <= float(total.split()[-1]) < 5
    wait = 'taskqueue_queue_wait_seconds_bucket{alias="Record",le="+Inf",queue="tests"} 4.0'
    assert wait in lines
    assert "# TYPE taskqueue_run_duration_seconds histogram" in lines
    # The histograms read the attempts alone: their copy of the queue names the series, and
    # an attempt recorded without the copies (before migration 0017) is left out.
    QueueItemAttempt.objects.filter(item=sleeper).update(queue_name="elsewhere")
    unknown = QueueItemAttempt.objects.filter(queue_name="tests").order_by("id")[0]
    QueueItemAttempt.objects.filter(pk=unknown.pk).update(definition=None, enqueued_at=None)
    lines = metric_lines(api)
    assert (
        'taskqueue_run_duration_seconds_bucket{alias="Record",le="+Inf",queue="tests"} 2.0'
        in lines
    )
    assert (
        'taskqueue_run_duration_seconds_bucket{alias="Record",le="+Inf",queue="elsewhere"} 1.0'
        in lines
    )
