"""An operator's session in a real browser: log in, find failures, requeue one, check queues."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.actions import set_queue_paused
from django_taskqueue.models import QueueItem, QueueItemAttempt, QueueState, Runner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRACEBACK = """Traceback (most recent call last):
  File "django_taskqueue/execution.py", line 141, in execute
    result = handler(**item.parameters)
  File "example_project/shop/tasks.py", line 66, in call_webhook
    response.raise_for_status()
urllib.error.HTTPError: HTTP Error 503: Service Unavailable"""


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
            finish(call, "failed", minutes_ago=2 + n * 3, attempts=3, last_error=TRACEBACK)
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
    Runner.objects.create(
        id="worker-2-977", hostname="worker-2", pid=977, queues=["reports"], concurrency=2
    )
    return failed[0]


def test_operator_requeues_a_failed_item_and_checks_the_queues(
    live_server, page, screenshot_dir: Path
):
    from playwright.sync_api import expect

    webhook = seed_a_busy_shop()
    User.objects.create_superuser("operator", "ops@example.com", "correct horse")
    admin = f"{live_server.url}/admin/"

    page.goto(admin)
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{admin}django_taskqueue/queueitem/{webhook.pk}/change/")
    expect(page.locator(".tq-traceback").first).to_contain_text("HTTP Error 503")
    expect(page.locator(".tq-attempts")).to_contain_text("worker-1:4242")
    page.screenshot(path=screenshot_dir / "queue-item-detail.png", full_page=True)

    page.goto(f"{admin}django_taskqueue/queueitem/")
    page.click("#toggle-nav-sidebar")  # more room for the columns
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator(".tq-status-failed").first).to_be_visible()
    page.screenshot(path=screenshot_dir / "queue-items.png")

    page.locator("#changelist-filter").get_by_role("link", name="Failed", exact=True).click()
    paginator = page.locator(".paginator")
    expect(paginator).to_contain_text("3 queue items")

    page.locator(f"input.action-select[value='{webhook.pk}']").check()
    page.select_option("select[name=action]", "requeue")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text(
        "requeue: 1 item(s) changed", ignore_case=True
    )
    expect(paginator).to_contain_text("2 queue items")
    assert QueueItem.objects.get(pk=webhook.pk).status == "queued"

    Runner.objects.update(heartbeat_at=timezone.now())  # the runners' heartbeats, in tests 0.5 s
    page.goto(admin)
    page.get_by_role("link", name="Queues", exact=True).click()
    expect(page.locator("h1")).to_have_text("Queues and runners")
    expect(page.locator(".tq-runner")).to_have_count(2)
    expect(page.locator("svg.tq-chart rect.tq-bar-failed").first).to_be_visible()
    page.screenshot(path=screenshot_dir / "dashboard.png", full_page=True)

    page.locator("tr[data-queue=emails]").get_by_role("button", name="Pause").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("Queue .emails. paused"))
    assert QueueState.objects.get(name="emails").is_paused
