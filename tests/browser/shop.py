"""The example shop's recent history, as an operator finds it in the admin."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.actions import set_queue_paused
from django_taskqueue.models import QueueItem, QueueItemAttempt, Runner

TRACEBACK = """Traceback (most recent call last):
  File "django_taskqueue/execution.py", line 141, in execute
    result = handler(**item.parameters)
  File "example_project/shop/tasks.py", line 66, in call_webhook
    response.raise_for_status()
urllib.error.HTTPError: HTTP Error 503: Service Unavailable"""
LONG_ERROR = (
    "HTTP Error 503: Service Unavailable from https://hooks.example.com/orders after 30 s; "
    "the endpoint asked to retry later (Retry-After: 120) and dropped the connection"
)


def finish(item: QueueItem, status: str, minutes_ago: float, **changes: object) -> QueueItem:
    """Leave ``item`` as a runner would have, ``minutes_ago`` minutes ago."""
    completed = timezone.now() - timedelta(minutes=minutes_ago)
    QueueItem.all_objects.filter(pk=item.pk).update(
        status=status,
        attempts=changes.pop("attempts", 1),
        started_at=completed - timedelta(seconds=1.7),
        completed_at=completed,
        **changes,
    )
    item.refresh_from_db()
    return item


def seed_a_busy_shop() -> QueueItem:
    """Recent history across the example shop's queues; returns a failed webhook call."""
    for n in range(24):
        email = enqueue_by_alias("SendWelcomeEmail", {"customer_id": 1000 + n})
        finish(email, "success", minutes_ago=n % 12, output={"sent_to": f"c{n}@example.com"})
    for n in range(3):
        finish(enqueue_by_alias("ExportOrdersReport", {"days": 7}), "success", minutes_ago=n * 4)
    failed = []
    for n in range(3):
        call = enqueue_by_alias(
            "CallWebhook", {"url": "https://hooks.example.com/orders", "order_id": 512 + n}
        )
        failed.append(
            finish(
                call,
                "failed",
                minutes_ago=2 + n * 3,
                attempts=3,
                last_error=TRACEBACK,
                last_error_class="urllib.error.HTTPError",
                last_error_message=LONG_ERROR if n == 1 else "HTTP Error 503: Service Unavailable",
            )
        )
    for number, outcome in [(1, "retry"), (2, "retry"), (3, "failed")]:
        QueueItemAttempt.objects.create(
            item=failed[0],
            number=number,
            runner_name="worker-1:4242",
            started_at=timezone.now() - timedelta(minutes=9 - number),
            outcome=outcome,
            error="urllib.error.HTTPError: HTTP Error 503: Service Unavailable",
        )
    QueueItem.all_objects.filter(pk=failed[0].pk).update(
        details="POST https://hooks.example.com/orders\n503 Service Unavailable, retrying"
    )
    for n in range(5):
        enqueue_by_alias("SendWelcomeEmail", {"customer_id": 2000 + n})
    enqueue_by_alias("CleanupOldData", {"days": 90}, delay=3600)
    set_queue_paused("maintenance", True)
    Runner.objects.create(
        id="worker-1-4242",
        hostname="worker-1",
        pid=4242,
        queues=["emails", "webhooks"],
        concurrency=8,
    )
    reports = Runner.objects.create(
        id="worker-2-977", hostname="worker-2", pid=977, queues=["reports"], concurrency=2
    )
    export = enqueue_by_alias("ExportOrdersReport", {"days": 30})
    QueueItem.all_objects.filter(pk=export.pk).update(
        status="running", attempts=1, runner=reports, started_at=timezone.now()
    )
    return failed[0]


def running_item() -> QueueItem:
    return QueueItem.objects.get(status="running")
