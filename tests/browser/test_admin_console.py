"""An operator's session in a real browser: log in, find failures, requeue one, check queues."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from django_taskqueue.models import QueueItem, QueueState, Runner

from .shop import seed_a_busy_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_requeues_a_failed_item_and_checks_the_queues(
    admin_url, page, screenshot_dir: Path
):
    from playwright.sync_api import expect

    webhook = seed_a_busy_shop()
    admin = admin_url

    page.goto(f"{admin}django_taskqueue/queueitem/{webhook.pk}/change/")
    expect(page.locator(".tq-traceback").first).to_contain_text("HTTP Error 503")
    expect(page.locator(".tq-attempts")).to_contain_text("worker-1:4242")
    page.screenshot(path=screenshot_dir / "queue-item-detail.png", full_page=True)

    page.goto(f"{admin}django_taskqueue/queueitem/")
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
