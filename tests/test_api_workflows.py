"""The HTTP API's workflows and dependencies: create a chain or group from JSON, list, read and
cancel workflows; jobs enqueued with ``depends_on``, ``on_parent_failure`` and ``webhook_url``,
and the links every job shows. Real tokens through the test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_taskqueue import chain, enqueue_by_alias, enqueue_workflow, group
from django_taskqueue.models import ItemDependency, QueueItem, Workflow

from .api_helpers import API, bearer, user_with
from .test_api import ITEM_KEYS, assert_error, parse_time

pytestmark = pytest.mark.django_db

WORKFLOW_KEYS = {"id", "name", "status", "created_at", "completed_at", "counts", "tenant"}
STEP_KEYS = {"id", "alias", "status", "parents"}
ORDER = {
    "chain": [
        {"alias": "Step", "parameters": {"name": "fetch"}},
        {
            "group": [["Step", {"name": "a"}], ["Step", {"name": "b"}, {"priority": 3}]],
            "then": {"alias": "Step", "parameters": {"name": "publish"}},
        },
    ]
}


def as_user(client: Client, *codenames: str) -> Client:
    client.defaults["HTTP_AUTHORIZATION"] = bearer(user_with(*codenames))["Authorization"]
    return client


@pytest.fixture
def api(client: Client) -> Client:
    """A user who may enqueue, see workflows and items, and cancel."""
    return as_user(client, "add_queueitem", "view_workflow", "view_queueitem", "cancel_queueitem")


def post(client: Client, path: str, body: object = None):
    return client.post(f"{API}{path}", body, content_type="application/json")


def nothing_written() -> bool:
    return not Workflow.objects.exists() and not QueueItem.all_objects.exists()


def step(name: str) -> tuple[str, dict[str, str]]:
    return ("Step", {"name": name})


# --------------------------------------------------------------------------- POST /workflows


def test_post_creates_the_graph_and_answers_201_with_its_page(api):
    response = post(api, "/workflows", {"name": "order 7", "workflow": ORDER})
    assert response.status_code == 201, response.content
    body = response.json()
    workflow = Workflow.objects.get()
    assert response["Location"] == f"{API}/workflows/{workflow.pk}"
    assert set(body) == WORKFLOW_KEYS | {"items"}
    assert (body["id"], body["name"], body["status"]) == (workflow.pk, "order 7", "running")
    assert body["completed_at"] is None
    assert abs(parse_time(body["created_at"]) - workflow.created_at) < timedelta(milliseconds=2)
    assert body["counts"] == {
        **dict.fromkeys(QueueItem.Status.values, 0),
        "queued": 1,
        "waiting": 3,
    }
    steps = {item.parameters["name"]: item for item in workflow.items.all()}
    assert [set(item) for item in body["items"]] == [STEP_KEYS] * 4
    shown = {item["id"]: item for item in body["items"]}
    assert [item["id"] for item in body["items"]] == sorted(shown)
    fetch, a, b, publish = (steps[name] for name in ("fetch", "a", "b", "publish"))
    assert shown[fetch.pk] == {"id": fetch.pk, "alias": "Step", "status": "queued", "parents": []}
    assert shown[a.pk]["parents"] == shown[b.pk]["parents"] == [fetch.pk]
    assert shown[publish.pk]["parents"] == [a.pk, b.pk]  # the group's order
    assert b.priority == 3
    assert api.get(response["Location"]).json() == body


def test_a_single_step_and_no_name_make_a_workflow_of_one(api):
    body = post(api, "/workflows", {"workflow": ["Record", {"value": 1}]}).json()
    assert body["name"] == "" and [item["alias"] for item in body["items"]] == ["Record"]


def test_a_steps_run_at_is_iso_text_as_for_jobs(api):
    at = {"alias": "Step", "parameters": {}, "options": {"run_at": "2031-05-06T07:08:09+02:00"}}
    response = post(api, "/workflows", {"workflow": {"chain": [at, ["Step", {}]]}})
    assert response.status_code == 201, response.content
    first = QueueItem.objects.order_by("id").first()
    assert first.run_at == datetime(2031, 5, 6, 5, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"workflow": {"chain": [["Step", {}], ["Nope", {}]]}}, "unknown_alias", "Nope"),
        (
            {"workflow": {"chain": [["Step", {}], ["Step", {"x": "\x00"}]]}},
            "invalid_parameters",
            "Step 2",
        ),
        ({"workflow": ["Step", {}, {"colour": "red"}]}, "invalid_parameters", "unknown option"),
        ({"workflow": ["Step", {}, {"priority": "high"}]}, "invalid_parameters", "Step 1"),
        ({"workflow": ["Step", {}, {"on_parent_failure": "x"}]}, "invalid_parameters", "'run'"),
        ({"workflow": ["Step", {}, {"webhook_url": "ftp://x"}]}, "invalid_parameters", "http"),
        ({"workflow": {"chain": []}}, "invalid_parameters", "at least one"),
        ({"workflow": {"chain": [["Step", {}], {"colour": 1}]}}, "invalid_parameters", r"chain[1]"),
        ({"workflow": "Step"}, "invalid_parameters", "expected a step"),
        ({"workflow": None}, "invalid_parameters", "expected a step"),
        (
            {"workflow": {"chain": [["Step", {}], ["Step", {}, {"run_at": "tomorrow"}]]}},
            "invalid_request",
            "Step 2 ('Step'): 'run_at' is not an ISO-8601",
        ),
        ({"workflow": ["Step", {}], "name": "n" * 201}, "invalid_parameters", "name"),
        ({"workflow": ["Step", {}], "name": 7}, "invalid_parameters", "name"),
        ({"workflow": ["Step", {}], "steps": []}, "invalid_request", "Unknown field(s): steps"),
        ({"name": "empty"}, "invalid_request", "'workflow'"),
    ],
)
def test_a_bad_description_is_400_with_its_code_and_writes_nothing(api, body, code, message):
    error = assert_error(post(api, "/workflows", body), 400, code)
    assert message in error["message"]
    assert nothing_written()


@pytest.mark.parametrize("depth", [600, 5000])
def test_a_description_nested_too_deeply_is_400_not_500(api, depth):
    """600 chains in chains parse as JSON but are too deep to read as a description; 5000
    are too deep for the JSON parser."""
    raw = b'{"workflow": ' + b'{"chain": [' * depth + b'["Step", {}]' + b"]}" * depth + b"}"
    assert_error(api.post(f"{API}/workflows", raw, content_type="application/json"), 400)
    assert nothing_written()


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"workflow": NaN}'])
def test_a_body_that_is_no_json_object_is_400(api, raw):
    assert_error(api.post(f"{API}/workflows", raw, content_type="application/json"), 400)
    assert nothing_written()


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("codenames", "method", "path", "status"),
    [
        (("view_workflow",), "post", "/workflows", 403),
        (("add_queueitem",), "post", "/workflows", 201),
        (("enqueue_taskdefinition",), "post", "/workflows", 201),
        (("add_queueitem",), "get", "/workflows", 403),
        (("view_queueitem",), "get", "/workflows", 403),
        (("view_workflow",), "get", "/workflows", 200),
        (("view_workflow",), "get", "/workflows/{id}", 200),
        (("add_queueitem",), "get", "/workflows/{id}", 403),
        (("view_workflow",), "post", "/workflows/{id}/cancel", 403),
        (("cancel_queueitem",), "post", "/workflows/{id}/cancel", 403),
        (("view_workflow", "cancel_queueitem"), "post", "/workflows/{id}/cancel", 200),
    ],
)
def test_each_request_needs_its_permission(client, codenames, method, path, status):
    workflow = enqueue_workflow(chain(step("one"), step("two")))
    as_user(client, *codenames)
    url = f"{API}{path.format(id=workflow.pk)}"
    if method == "post":
        response = client.post(url, {"workflow": ["Step", {}]}, content_type="application/json")
    else:
        response = client.get(url)
    assert response.status_code == status, response.content
    if status == 403:
        assert_error(response, 403, "permission_denied")
        assert Workflow.objects.count() == 1
        assert Workflow.objects.get().status == "running"


def test_without_credentials_it_is_401(client):
    assert_error(client.get(f"{API}/workflows"), 401, "not_authenticated")
    assert_error(post(client, "/workflows", {"workflow": ["Step", {}]}), 401, "not_authenticated")
    assert nothing_written()


def test_wrong_methods_are_405_with_allow(api):
    workflow = enqueue_workflow(step("one"))
    response = api.delete(f"{API}/workflows/{workflow.pk}")
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"
    assert api.get(f"{API}/workflows/{workflow.pk}/cancel")["Allow"] == "POST"


# --------------------------------------------------------------------------- GET /workflows


def test_the_list_is_newest_first_with_counts_and_pages_with_a_cursor(api):
    made = [enqueue_workflow(chain(step(f"{n}a"), step(f"{n}b")), name=f"w{n}") for n in range(5)]
    seen: list[int] = []
    url = f"{API}/workflows?limit=2"
    while url:
        body = api.get(url).json()
        assert all(set(row) == WORKFLOW_KEYS for row in body["results"])
        seen += [row["id"] for row in body["results"]]
        url = f"{API}/workflows?limit=2&cursor={body['next']}" if body["next"] else None
    assert seen == [workflow.pk for workflow in reversed(made)]
    first = api.get(f"{API}/workflows").json()["results"][0]
    assert first["name"] == "w4"
    assert (first["counts"]["queued"], first["counts"]["waiting"]) == (1, 1)


def test_the_list_filters_by_status(api):
    running = enqueue_workflow(step("running"))
    canceled = enqueue_workflow(step("canceled"))
    canceled.cancel()

    def ids(query: str) -> list[int]:
        return [row["id"] for row in api.get(f"{API}/workflows?{query}").json()["results"]]

    assert ids("status=canceled") == [canceled.pk]
    assert ids("status=running") == [running.pk]
    assert ids("status=success") == []
    assert ids("") == [canceled.pk, running.pk]


def test_a_page_of_workflows_costs_the_same_queries_whatever_its_size(api):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{API}/workflows").status_code == 200
        return len(captured)

    enqueue_workflow(chain(step("a"), step("b")))
    few = queries()
    for _ in range(6):
        enqueue_workflow(chain(step("a"), step("b")))
    assert queries() == few


@pytest.mark.parametrize(
    "query", ["status=queued", "status=done", "limit=0", "limit=501", "cursor=abc", "cursor=-1"]
)
def test_bad_list_queries_are_400(api, query):
    assert_error(api.get(f"{API}/workflows?{query}"), 400, "invalid_request")


@pytest.mark.parametrize("workflow_id", ["999999", "0", "abc", "9" * 30])
def test_an_unknown_workflow_is_404(api, workflow_id):
    assert_error(api.get(f"{API}/workflows/{workflow_id}"), 404, "not_found")
    assert_error(post(api, f"/workflows/{workflow_id}/cancel"), 404, "not_found")


# --------------------------------------------------------------------------- cancel


def test_cancel_cancels_every_unfinished_step_and_is_noted_in_the_history(api):
    workflow = enqueue_workflow(chain(step("one"), step("two"), step("three")))
    response = post(api, f"/workflows/{workflow.pk}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "canceled" and body["completed_at"] is not None
    assert body["counts"]["canceled"] == 3
    assert {item["status"] for item in body["items"]} == {"canceled"}
    entry = LogEntry.objects.get(
        object_id=str(workflow.pk), content_type=ContentType.objects.get_for_model(Workflow)
    )
    items = ContentType.objects.get_for_model(QueueItem)
    for item_id in workflow.items.values_list("pk", flat=True):  # and each step's History
        assert LogEntry.objects.filter(object_id=str(item_id), content_type=items).exists()
    assert "3 item(s) changed" in entry.change_message and "via api" in entry.change_message
    error = assert_error(post(api, f"/workflows/{workflow.pk}/cancel"), 409, "invalid_transition")
    assert "canceled" in error["message"]


def test_cancel_asks_the_runner_of_a_running_step_to_stop(api):
    workflow = enqueue_workflow(chain(step("one"), step("two")))
    first = workflow.items.get(status="queued")
    QueueItem.objects.filter(pk=first.pk).update(status="running")
    body = post(api, f"/workflows/{workflow.pk}/cancel").json()
    assert body["status"] == "running"  # until the runner stops the running step
    assert QueueItem.objects.get(pk=first.pk).cancel_requested
    assert body["counts"]["canceled"] == 1


# --------------------------------------------------------------------------- jobs


def test_a_job_with_depends_on_waits_and_says_for_whom(api):
    a, b = enqueue_by_alias("Step", {"name": "a"}), enqueue_by_alias("Step", {"name": "b"})
    response = post(
        api,
        "/jobs",
        {
            "alias": "Step",
            "depends_on": [b.pk, a.pk],
            "on_parent_failure": "run",
            "webhook_url": "https://example.com/hook",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ITEM_KEYS
    assert (body["status"], body["parents"], body["children"]) == ("waiting", [b.pk, a.pk], [])
    assert body["waiting_reason"] == f"waiting for parent(s) #{b.pk}, #{a.pk}"
    assert (body["on_parent_failure"], body["workflow_id"]) == ("run", None)
    child = QueueItem.objects.get(pk=body["id"])
    assert child.webhook_url == "https://example.com/hook"
    parent = api.get(f"{API}/jobs/{a.pk}").json()
    assert (parent["children"], parent["parents"]) == ([child.pk], [])
    QueueItem.objects.filter(pk=b.pk).update(status="success")
    assert api.get(f"{API}/jobs/{child.pk}").json()["waiting_reason"] == (
        f"waiting for parent(s) #{a.pk}"
    )


def test_a_waiting_reason_names_five_parents_and_counts_the_rest(api):
    parents = [enqueue_by_alias("Step", {}).pk for _ in range(7)]
    body = post(api, "/jobs", {"alias": "Step", "depends_on": parents}).json()
    named = ", ".join(f"#{pk}" for pk in parents[:5])
    assert body["waiting_reason"] == f"waiting for parent(s) {named} and 2 more"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"depends_on": "7"}, "must be a list"),
        ({"depends_on": 7}, "must be a list"),
        ({"depends_on": [1.5]}, "neither"),
        ({"depends_on": [True]}, "neither"),
        ({"depends_on": [0]}, "no item id"),
        ({"depends_on": [999999]}, "#999999, which do not exist"),
        ({"on_parent_failure": "ignore"}, "'cancel' or 'run'"),
        ({"webhook_url": "ftp://example.com"}, "http"),
        ({"webhook_url": 5}, "must be a URL"),
    ],
)
def test_bad_dependency_fields_are_400_and_write_nothing(api, fields, message):
    error = assert_error(post(api, "/jobs", {"alias": "Step", **fields}), 400, "invalid_parameters")
    assert message in error["message"]
    assert not QueueItem.all_objects.exists() and not ItemDependency.objects.exists()


def test_a_step_shows_its_workflow_and_the_list_filters_by_workflow(api):
    workflow = enqueue_workflow(group(step("a"), step("b"), then=step("c")))
    other = enqueue_workflow(step("elsewhere"))
    a, b, c = workflow.items.order_by("id")
    results = api.get(f"{API}/jobs?workflow={workflow.pk}").json()["results"]
    assert [job["id"] for job in results] == [c.pk, b.pk, a.pk]
    assert {job["workflow_id"] for job in results} == {workflow.pk}
    by_id = {job["id"]: job for job in results}
    assert by_id[c.pk]["parents"] == [a.pk, b.pk] and by_id[a.pk]["children"] == [c.pk]
    assert api.get(f"{API}/jobs?workflow={other.pk}").json()["results"][0]["parents"] == []
    assert_error(api.get(f"{API}/jobs?workflow=abc"), 400, "invalid_request")


def test_a_page_of_jobs_reads_links_in_a_fixed_number_of_queries(api):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{API}/jobs").status_code == 200
        return len(captured)

    enqueue_workflow(chain(step("a"), step("b")))
    few = queries()
    enqueue_workflow(chain(*(step(str(n)) for n in range(10))))
    assert queries() == few


def test_cancel_and_requeue_answer_with_the_links_too(client):
    as_user(client, "view_queueitem", "cancel_queueitem")
    parent = enqueue_by_alias("Step", {})
    child = enqueue_by_alias("Step", {}, depends_on=[parent])
    body = post(client, f"/jobs/{child.pk}/cancel").json()
    assert (body["status"], body["parents"]) == ("canceled", [parent.pk])
