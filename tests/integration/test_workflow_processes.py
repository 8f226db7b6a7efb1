"""Workflows and result webhooks run by real ``runqueue`` processes: every rule end to end."""

from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from django_taskqueue import chain, enqueue_by_alias, enqueue_workflow, group
from django_taskqueue.models import QueueItem, Workflow
from django_taskqueue.store.dependencies import PARENT_FAILED
from django_taskqueue.webhooks.signing import verify
from tests.conftest import wait_for
from tests.taskapp.models import Journal

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = b"test-webhook-secret"  # tests/settings.py


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, object], bool]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = verify(body, self.headers.get("X-Taskqueue-Signature", ""), SECRET)
        self.received.append((json.loads(body), signed))
        self.send_response(200 if signed else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def step(name: str, **parameters: object) -> tuple[str, dict[str, object]]:
    return ("Step", {"name": name, **parameters})


def runs() -> list[str]:
    return list(Journal.objects.order_by("id").values_list("note", flat=True))


def test_two_runner_processes_run_a_workflow_by_every_rule(start_runner, receiver):
    workflow = enqueue_workflow(
        chain(
            step("first"),
            group(step("ok"), step("broken", fail=True), then=step("join")),
            ("Step", {"name": "report"}, {"webhook_url": receiver}),
        )
    )
    items = {item.parameters["name"]: item for item in workflow.items.all()}
    cleanup = enqueue_by_alias(
        "Step",
        {"name": "cleanup"},
        depends_on=[items["ok"], items["broken"]],
        on_parent_failure="run",
    )
    env = {"TASKQUEUE_TEST_WEBHOOK_HOSTS": "127.0.0.1"}
    runners = [start_runner("tests", "webhooks", "--interval", "0.1", env=env) for _ in range(2)]

    wait_for(lambda: Workflow.objects.get(pk=workflow.pk).is_finished, timeout=60)
    assert cleanup.wait(timeout=30).status == "success"
    workflow.refresh_from_db()
    assert workflow.status == "failed"
    statuses = {name: QueueItem.objects.get(pk=item.pk).status for name, item in items.items()}
    assert statuses == {
        "first": "success",
        "ok": "success",
        "broken": "failed",
        "join": "canceled",
        "report": "canceled",
    }
    assert QueueItem.objects.get(pk=items["report"].pk).last_error_class == PARENT_FAILED
    assert runs()[0] == "first" and "join" not in runs() and "cleanup" in runs()
    # The canceled step's webhook: signed, and telling why.
    wait_for(lambda: Receiver.received, timeout=30)
    (body, signed), *_ = Receiver.received
    assert signed and body["item_id"] == items["report"].pk and body["status"] == "canceled"
    assert body["error"]["class"] == PARENT_FAILED

    # An operator fixes the broken step and requeues it: the rest of the workflow goes on.
    QueueItem.objects.filter(pk=items["broken"].pk).update(parameters={"name": "broken"})
    items["broken"].requeue()
    assert workflow.wait(timeout=60).status == "success"
    assert runs()[-2:] == ["join", "report"]
    wait_for(lambda: len(Receiver.received) == 2, timeout=30)
    body, signed = Receiver.received[1]
    assert signed and body["status"] == "success" and body["output"]["name"] == "report"
    for runner in runners:
        runner.signal(signal.SIGTERM)
        assert runner.wait() == 0, runner.output()
