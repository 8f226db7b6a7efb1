"""The handler that delivers result webhooks: one item of the webhooks queue per report.

A delivery is ordinary queue work, so it gets what every item gets: durable retries with
backoff, a runner's timeout and cancel, the admin's actions. Each attempt POSTs the body
built when the item finished (``payloads.py``), signed afresh (``signing.py``), to an address
checked just before (``addresses.py``), and writes one ``WebhookDelivery`` row, the log shown
on the reported item's admin page.

What is worth another try: no answer in time, a connection that failed, and answers that say
"later" (5xx, 408, 429). A refused address or any other answer (a redirect, which is not
followed, as it could lead past the address check; a 4xx) fails the delivery at once.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from .. import __version__
from ..conf import app_settings
from ..context import TaskContext, current_task
from ..models import WebhookDelivery
from ..registry import handler
from ..store import queue_database
from .addresses import RefusedAddress, pinned_connection, resolve_target
from .payloads import WEBHOOK_ALIAS
from .signing import SIGNATURE_HEADER, sign, webhook_secret

ITEM_HEADER = "X-Taskqueue-Item"
DELIVERY_HEADER = "X-Taskqueue-Delivery"
# Answers that ask to be tried again later; every other 5xx does too.
RETRY_STATUSES = (408, 429)
# Backoff seeded on the definition: 30 s, doubling, at most 30 min between attempts, so the
# default eight attempts span about an hour of a receiver being down.
RETRY_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 1800
# How much of an error answer's body the log keeps, to tell the operator what the receiver said.
ERROR_EXCERPT_CHARACTERS = 300


class DeliveryFailed(Exception):
    """The receiver could not be told this time; a later attempt may succeed."""


class DeliveryRejected(Exception):
    """Trying again cannot help: the address is refused, or the receiver said no."""


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    body: bytes  # at most WEBHOOK_MAX_RESPONSE_BYTES of it


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent: compact, keys sorted, ASCII."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST ``body`` to ``url``; ``TimeoutError`` unless the answer's status and headers are
    in within ``timeout``, counted from the start. Its body is read until the same deadline,
    at most ``WEBHOOK_MAX_RESPONSE_BYTES`` of it, and changes nothing: the status was said.

    Raises ``RefusedAddress`` for an address webhooks may not reach, ``OSError`` or
    ``http.client.HTTPException`` when the exchange breaks.
    """
    target = resolve_target(url)
    connection = pinned_connection(target, timeout)
    deadline = threading.Timer(timeout, connection.cut_off)
    deadline.daemon = True
    deadline.start()
    try:
        try:
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            # Cut off mid-headers, http.client takes the end of the stream for their end.
            in_time = not connection.was_cut_off
        except (OSError, http.client.HTTPException) as exc:
            if not (connection.was_cut_off or isinstance(exc, TimeoutError)):
                raise
            in_time = False
        if not in_time:
            raise TimeoutError(f"no complete answer within {timeout:g} s")
        try:
            content = response.read(int(app_settings.WEBHOOK_MAX_RESPONSE_BYTES))
        except (OSError, http.client.HTTPException):
            content = b""
        return Answer(response.status, response.reason, content)
    finally:
        deadline.cancel()
        connection.close()


def deliver_webhook(item_id: int, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Deliver a result webhook: POST an item's final outcome, signed, to its webhook URL."""
    task = current_task()
    assert task is not None, "deliver_webhook runs as a queue item"
    body = encode_body(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"django-taskqueue/{__version__}",
        "Connection": "close",
        SIGNATURE_HEADER: sign(body, webhook_secret()),
        ITEM_HEADER: str(item_id),
        DELIVERY_HEADER: str(task.item_id),
    }
    log = DeliveryLog(task, item_id, url)
    try:
        answer = post(url, body, headers, float(app_settings.WEBHOOK_TIMEOUT_SECONDS))
    except RefusedAddress as exc:
        log.write(WebhookDelivery.Outcome.REFUSED, error=str(exc))
        raise DeliveryRejected(str(exc)) from None
    except TimeoutError as exc:
        raise log.failure(f"Timed out: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise log.failure(f"{type(exc).__name__}: {exc}") from None
    if 200 <= answer.status < 300:
        log.write(WebhookDelivery.Outcome.DELIVERED, status_code=answer.status)
        return {"status_code": answer.status, "duration_ms": log.duration_ms()}
    error = f"HTTP {answer.status} {answer.reason}".rstrip()
    excerpt = " ".join(answer.body.decode("utf-8", "replace").split())
    if excerpt:
        error += f": {excerpt[:ERROR_EXCERPT_CHARACTERS]}"
    if answer.status >= 500 or answer.status in RETRY_STATUSES:
        raise log.failure(error, answer.status)
    log.write(WebhookDelivery.Outcome.FAILED, status_code=answer.status, error=error)
    raise DeliveryRejected(error)


class DeliveryLog:
    """Writes the ``WebhookDelivery`` row of one attempt, timed from its making."""

    def __init__(self, task: TaskContext, item_id: int, url: str) -> None:
        self.task, self.item_id, self.url = task, item_id, url
        self.started = time.monotonic()

    def duration_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def failure(self, error: str, status_code: int | None = None) -> DeliveryFailed:
        """Log a failure worth retrying: ``retry`` while attempts remain, then ``failed``."""
        last = self.task.attempt >= self.task.max_attempts
        outcome = WebhookDelivery.Outcome.FAILED if last else WebhookDelivery.Outcome.RETRY
        self.write(outcome, status_code=status_code, error=error)
        return DeliveryFailed(error)

    def write(self, outcome: str, status_code: int | None = None, error: str = "") -> None:
        using = self.task.using or queue_database()
        try:
            with transaction.atomic(using=using):
                WebhookDelivery.objects.using(using).create(
                    item_id=self.item_id,
                    delivery_item_id=self.task.item_id,
                    url=self.url,
                    attempt=self.task.attempt,
                    outcome=outcome,
                    status_code=status_code,
                    error=error,
                    duration_ms=self.duration_ms(),
                )
        except IntegrityError:  # the item reported on was purged meanwhile: nowhere to log
            pass


def register_delivery_handler() -> None:
    """Register ``deliver_webhook`` in this process (``AppConfig.ready``), so every process
    that finishes items can enqueue deliveries and every runner can run them.

    The settings are read now, and only seed the definition row when it is first created;
    afterwards operators tune its attempts and backoff on the row.
    """
    handler(
        WEBHOOK_ALIAS,
        queue_name=str(app_settings.WEBHOOK_QUEUE),
        max_attempts=int(app_settings.WEBHOOK_MAX_ATTEMPTS),
        retry_backoff_seconds=RETRY_BACKOFF_SECONDS,
        max_backoff_seconds=MAX_BACKOFF_SECONDS,
        give_up_on=DeliveryRejected,
        title="Result webhook",
    )(deliver_webhook)
