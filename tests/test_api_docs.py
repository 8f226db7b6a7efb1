"""Runs the request/response examples of docs/http-api.md, in order, so the docs cannot drift.

Each ```http block that starts with a method is a request; the next ```http block, starting
with ``HTTP/1.1``, is its documented response. The response's status and every header shown
must match; JSON bodies must have exactly the documented keys at every level, and the same
values except where they vary by run (ids, timestamps, ages, messages). Ids are mapped:
the id a documented response shows stands for the id the real response gave, in later paths
and wherever a body names items (``depends_on``, ``parents``, ``children``, ``workflow_id``,
``#17``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from django_taskqueue.models import Schedule

from .api_helpers import bearer, user_with

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parent.parent / "docs" / "http-api.md"
FENCE = re.compile(r"^```http\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# Where a body names items or workflows by id.
LINKS = re.compile(r'"(?:depends_on|parents|children)": \[[\d, ]*\]|"workflow_id": \d+|#\d+')
VARYING = {
    "id",
    "run_at",
    "created_at",
    "started_at",
    "completed_at",
    "oldest_queued_age_seconds",
    "message",
    "next",
    "next_fire_at",
    "next_fire_times",
    "last_fired_at",
    "scheduled_for",
}


@dataclass
class Message:
    start_line: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def parse_message(block: str) -> Message:
    head, _, body = block.partition("\n\n")
    start_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Message(start_line, headers, body.strip())


def examples() -> list[tuple[Message, Message]]:
    blocks = [parse_message(match.group(1)) for match in FENCE.finditer(DOC.read_text())]
    pairs = []
    for request, response in zip(blocks, blocks[1:], strict=False):
        if not request.start_line.startswith("HTTP/") and response.start_line.startswith("HTTP/"):
            pairs.append((request, response))
    return pairs


def assert_same_shape(documented: Any, actual: Any, path: str = "body") -> None:
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(actual) == set(documented), f"{path}: keys differ from the docs"
        for key, value in documented.items():
            if key not in VARYING:
                assert_same_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list) and len(actual) == len(documented), f"{path}: list differs"
        for index, (doc_item, real_item) in enumerate(zip(documented, actual, strict=True)):
            assert_same_shape(doc_item, real_item, f"{path}[{index}]")
    else:
        assert actual == documented, f"{path}: docs say {documented!r}, the API said {actual!r}"


class IdMap:
    """Documented item ids and the real ones they stand for, learned from responses."""

    def __init__(self) -> None:
        self.real: dict[str, str] = {}

    def learn(self, documented: Any, actual: Any) -> None:
        if isinstance(documented, dict) and isinstance(actual, dict):
            if "id" in documented and "id" in actual:
                self.real[str(documented["id"])] = str(actual["id"])
            for key in documented.keys() & actual.keys():
                self.learn(documented[key], actual[key])
        elif isinstance(documented, list) and isinstance(actual, list):
            for doc_item, real_item in zip(documented, actual, strict=False):
                self.learn(doc_item, real_item)

    def apply(self, text: str) -> str:
        return re.sub(
            r"(?<=/jobs/)\d+|(?<=/workflows/)\d+|(?<=cursor=)\d+",
            lambda m: self.real.get(m[0], m[0]),
            text,
        )

    def apply_to_body(self, text: str) -> str:
        return LINKS.sub(
            lambda link: re.sub(r"\d+", lambda m: self.real.get(m[0], m[0]), link[0]), text
        )


def test_the_docs_have_examples_of_every_endpoint():
    requests = {request.start_line.rsplit(" ", 1)[0] for request, _ in examples()}
    paths = {re.sub(r"/\d+|\?.*", "", line.split(" ", 1)[1]) for line in requests}
    assert paths >= {
        "/tasks/api/v1/jobs",
        "/tasks/api/v1/jobs/cancel",
        "/tasks/api/v1/jobs/requeue",
        "/tasks/api/v1/queues",
        "/tasks/api/v1/queues/emails",
        "/tasks/api/v1/schedules",
        "/tasks/api/v1/schedules/nightly-report",
        "/tasks/api/v1/schedules/nightly-report/fire",
        "/tasks/api/v1/workflows",
        "/tasks/api/v1/workflows/cancel",
        "/tasks/health",
        "/tasks/metrics",
    }
    assert len(examples()) >= 12


def test_the_documented_examples_hold():
    client = Client()
    token = bearer(
        user_with(
            "view_queueitem",
            "add_queueitem",
            "cancel_queueitem",
            "requeue_queueitem",
            "change_queuestate",
            "view_schedule",
            "fire_schedule",
            "view_workflow",
        )
    )["Authorization"]
    # The schedule declared in docs/schedules.md, which the Schedules examples show.
    schedule = Schedule(
        name="nightly-report",
        alias="ExportOrdersReport",
        cron="0 2 * * *",
        timezone="Europe/Berlin",
        parameters={"days": 1},
    )
    schedule.full_clean()
    schedule.save()
    ids = IdMap()
    for request, documented in examples():
        method, target, _ = request.start_line.split(" ")
        headers = {
            name: value.replace("Bearer <token>", token)
            for name, value in request.headers.items()
            if name != "Content-Type"
        }
        response = client.generic(
            method,
            ids.apply(target),
            ids.apply_to_body(request.body).encode(),
            content_type=request.headers.get("Content-Type", "application/octet-stream"),
            headers=headers,
        )
        where = request.start_line
        assert response.status_code == int(documented.start_line.split(" ")[1]), (
            where,
            response.content,
        )
        if documented.headers.get("Content-Type") == "application/json":
            actual = response.json()
            ids.learn(json.loads(documented.body), actual)
            assert_same_shape(json.loads(ids.apply_to_body(documented.body)), actual, where)
        else:
            assert_same_metrics(documented.body, response.content.decode(), where)
        for name, value in documented.headers.items():
            assert response.headers.get(name) == ids.apply(value), (where, name)


def assert_same_metrics(documented: str, actual: str, where: str) -> None:
    """Same comment lines; the same series (name and labels) in the same order."""
    documented_lines = documented.splitlines()
    actual_lines = actual.splitlines()
    assert len(actual_lines) == len(documented_lines), where
    for doc_line, real_line in zip(documented_lines, actual_lines, strict=True):
        if doc_line.startswith("#"):
            assert real_line == doc_line, where
        else:
            assert real_line.rsplit(" ", 1)[0] == doc_line.rsplit(" ", 1)[0], where
