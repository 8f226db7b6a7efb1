"""Result webhooks delivered for real: in-process runners POST to an HTTP server on loopback.

The receiver checks each request's signature with the snippet docs/webhooks.md gives
receivers, and answers as each test scripts it: a status, a pause, an answer trickled out.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.urls import reverse

from django_taskqueue import enqueue_by_alias, handler
from django_taskqueue.actions import apply_action
from django_taskqueue.models import QueueItem, TaskDefinition
from django_taskqueue.registry import unregister
from django_taskqueue.webhooks.delivery import encode_body
from django_taskqueue.webhooks.payloads import WEBHOOK_ALIAS
from tests.conftest import drain
from tests.test_webhooks import documented_verify

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "shared-with-the-receiver"
BOTH_QUEUES = ("tests", "webhooks")

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # what the receiver's signature check said

    def report(self) -> dict[str, Any]:
        return json.loads(self.body)


def status(code: int) -> Answer:
    def answer(request: BaseHTTPRequestHandler) -> None:
        body = f"answer {code}".encode()
        request.send_response(code)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return answer


def after(seconds: float, then: Answer) -> Answer:
    def answer(request: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        then(request)

    return answer


def trickled(seconds: float) -> Answer:
    """A status line, then a header a byte at a time for ``seconds``: every read gets
    something well within the socket timeout, yet the answer never completes in time."""

    def answer(request: BaseHTTPRequestHandler) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            request.wfile.write(b"z")
            request.wfile.flush()
            time.sleep(0.05)
        request.wfile.write(b"\r\nContent-Length: 0\r\n\r\n")

    return answer


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[Answer] = []  # one per request, in order; then 200s
        self.secret = SECRET.encode()
        self.verify = documented_verify()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ReceiverHandler)
        self.server.daemon_threads = True
        self.server.receiver = self  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = receiver.verify(
            body, self.headers.get("X-Taskqueue-Signature", ""), receiver.secret
        )
        receiver.requests.append(Received(self.path, dict(self.headers), body, signed))
        answer = receiver.answers.pop(0) if receiver.answers else status(200)
        try:
            (answer if signed else status(401))(self)
        except OSError:  # the sender gave up waiting and closed the connection
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def webhook_settings(settings) -> Callable[..., None]:
    """Loopback allowed, a known secret, a short timeout; more keys by keyword."""

    def apply(**changes: Any) -> None:
        settings.TASKQUEUE = {
            **settings.TASKQUEUE,
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
            "WEBHOOK_TIMEOUT_SECONDS": 2.0,
            **changes,
        }

    apply()
    return apply


@pytest.fixture
def deliveries(webhook_settings) -> TaskDefinition:
    """The delivery definition row, its backoff cut so retries come at once."""
    definition = TaskDefinition.objects.for_alias(WEBHOOK_ALIAS)
    TaskDefinition.objects.filter(pk=definition.pk).update(
        retry_backoff_seconds=0.01, retry_backoff_max_seconds=0.05
    )
    return definition


def delivery_log(item: QueueItem) -> list[tuple[int, str, int | None]]:
    return [
        (row.attempt, row.outcome, row.status_code)
        for row in item.webhook_deliveries.order_by("attempted_at", "id")
    ]


def delivery_item() -> QueueItem:
    (delivery,) = QueueItem.objects.filter(definition__alias=WEBHOOK_ALIAS)
    return delivery


# --------------------------------------------------------------------------- delivered


def test_a_success_is_posted_signed_and_logged(receiver, deliveries, admin_client):
    item = enqueue_by_alias("Record", {"value": 7}, webhook_url=receiver.url("/hook?src=tq"))
    drain(BOTH_QUEUES)

    (request,) = receiver.requests
    assert request.signed
    assert request.path == "/hook?src=tq"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("django-taskqueue/")
    assert request.headers["X-Taskqueue-Item"] == str(item.pk)
    delivery = delivery_item()
    assert request.headers["X-Taskqueue-Delivery"] == str(delivery.pk)
    report = request.report()
    assert request.body == encode_body(report)  # the exact bytes signed
    item.refresh_from_db()
    assert report == {
        "item_id": item.pk,
        "alias": "Record",
        "queue": "tests",
        "status": "success",
        "attempts": 1,
        "workflow_id": None,
        "output": item.output,
        "created_at": item.created_at.isoformat(),
        "started_at": item.started_at.isoformat(),
        "completed_at": item.completed_at.isoformat(),
    }
    assert report["output"]["value"] == 7

    (row,) = item.webhook_deliveries.all()
    assert (row.outcome, row.status_code, row.attempt, row.error) == ("delivered", 200, 1, "")
    assert row.url == receiver.url("/hook?src=tq") and row.duration_ms > 0
    assert row.delivery_item_id == delivery.pk
    assert (delivery.queue_name, delivery.status) == ("webhooks", "success")
    assert delivery.output["status_code"] == 200

    page = admin_client.get(reverse("admin:django_taskqueue_queueitem_change", args=[item.pk]))
    html = page.content.decode()
    assert "tq-webhook-delivery" in html and "Delivered" in html
    assert receiver.url("/hook?src=tq").replace("&", "&amp;") in html
    delivery_url = reverse("admin:django_taskqueue_queueitem_change", args=[delivery.pk])
    assert f'href="{delivery_url}"' in html
    back = admin_client.get(delivery_url).content.decode()
    assert "Webhook delivery" in back
    item_url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    assert f'<a href="{item_url}">#{item.pk}</a>' in back


def test_a_500_is_retried_until_delivered(receiver, deliveries):
    receiver.answers = [status(500)]
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert [request.signed for request in receiver.requests] == [True, True]
    assert delivery_log(item) == [(1, "retry", 500), (2, "delivered", 200)]
    first = item.webhook_deliveries.order_by("id").first()
    assert first.error == "HTTP 500 Internal Server Error: answer 500"
    delivery = delivery_item()
    assert (delivery.status, delivery.attempts) == ("success", 2)


def test_a_receiver_that_keeps_failing_fails_the_delivery_after_its_attempts(receiver, deliveries):
    TaskDefinition.objects.filter(pk=deliveries.pk).update(max_attempts=3)
    receiver.answers = [status(503), status(429), status(502)]
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert delivery_log(item) == [(1, "retry", 503), (2, "retry", 429), (3, "failed", 502)]
    delivery = delivery_item()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error_class.endswith("DeliveryFailed")


def test_a_4xx_fails_at_once(receiver, deliveries):
    receiver.answers = [status(404)]
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert delivery_log(item) == [(1, "failed", 404)]
    delivery = delivery_item()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error_class.endswith("DeliveryRejected")


# --------------------------------------------------------------------------- time


def test_a_receiver_slower_than_the_timeout_is_retried(receiver, deliveries, webhook_settings):
    webhook_settings(WEBHOOK_TIMEOUT_SECONDS=0.3)
    receiver.answers = [after(1.5, status(200))]
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert delivery_log(item) == [(1, "retry", None), (2, "delivered", 200)]
    timed_out = item.webhook_deliveries.order_by("id").first()
    assert timed_out.error == "Timed out: no complete answer within 0.3 s"
    assert 300 <= timed_out.duration_ms < 1500


def test_an_answer_trickled_out_is_cut_off_at_the_deadline(receiver, deliveries, webhook_settings):
    webhook_settings(WEBHOOK_TIMEOUT_SECONDS=0.5)
    receiver.answers = [trickled(3.0)]
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert delivery_log(item) == [(1, "retry", None), (2, "delivered", 200)]
    cut = item.webhook_deliveries.order_by("id").first()
    assert cut.error.startswith("Timed out") and 500 <= cut.duration_ms < 2000


# --------------------------------------------------------------------------- refused


def test_a_loopback_host_that_is_not_allowed_is_refused_before_sending(
    receiver, deliveries, webhook_settings
):
    webhook_settings(WEBHOOK_ALLOWED_HOSTS=[])
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    assert receiver.requests == []
    assert delivery_log(item) == [(1, "refused", None)]
    (row,) = item.webhook_deliveries.all()
    assert "127.0.0.1 is a loopback address" in row.error
    assert "WEBHOOK_ALLOWED_HOSTS" in row.error
    delivery = delivery_item()
    assert (delivery.status, delivery.attempts) == ("failed", 1)


def test_a_wrong_signature_is_rejected_by_the_receiver(receiver, deliveries, webhook_settings):
    webhook_settings(WEBHOOK_SECRET="not-the-receivers-secret")
    item = enqueue_by_alias("Record", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    (request,) = receiver.requests
    assert not request.signed
    assert delivery_log(item) == [(1, "failed", 401)]  # a 4xx: no retry


# --------------------------------------------------------------------------- which outcomes


def test_the_definitions_url_serves_items_without_their_own(receiver, deliveries):
    handler("HookedRecord", queue="tests", max_attempts=1, webhook_url=receiver.url("/def"))(
        lambda value=None: {"value": value}
    )
    try:
        assert TaskDefinition.objects.for_alias("HookedRecord").webhook_url == receiver.url("/def")
        plain = enqueue_by_alias("HookedRecord", {"value": 1})
        own = enqueue_by_alias("HookedRecord", {"value": 2}, webhook_url=receiver.url("/own"))
        drain(BOTH_QUEUES)
    finally:
        unregister("HookedRecord")

    by_item = {request.report()["item_id"]: request.path for request in receiver.requests}
    assert by_item == {plain.pk: "/def", own.pk: "/own"}


def test_a_failed_item_reports_its_error_once_after_its_last_attempt(receiver, deliveries):
    item = enqueue_by_alias("AlwaysFails", webhook_url=receiver.url())
    drain(BOTH_QUEUES)

    (request,) = receiver.requests
    report = request.report()
    assert (report["status"], report["attempts"]) == ("failed", 2)
    assert report["error"] == {
        "class": "builtins.ValueError",
        "message": "this handler always fails",
    }
    assert "output" not in report
    assert delivery_log(item) == [(1, "delivered", 200)]


def test_an_item_canceled_by_an_operator_reports_it(receiver, deliveries):
    item = enqueue_by_alias("Record", delay=3600, webhook_url=receiver.url())
    assert apply_action("cancel", [item]).changed == [item.pk]
    drain(("webhooks",))

    (request,) = receiver.requests
    report = request.report()
    assert (report["item_id"], report["status"], report["attempts"]) == (item.pk, "canceled", 0)
    assert report["started_at"] is None and report["completed_at"] is not None
    assert set(report["error"]) == {"class", "message"}
    assert delivery_log(item) == [(1, "delivered", 200)]
