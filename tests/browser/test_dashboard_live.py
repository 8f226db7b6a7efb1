"""The queues dashboard in a real browser: figures that update in place, a switch to stop it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.admin import dashboard
from django_taskqueue.models import Runner

from .conftest import VIEWPORT_WIDTHS
from .shop import seed_a_busy_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKER = "window.tqSamePage"  # set on the page; a reload would drop it


@pytest.fixture
def quick_refresh(monkeypatch, settings) -> None:
    monkeypatch.setattr(dashboard, "REFRESH_SECONDS", 1)
    # Seeded runners stay live while the test runs (tests heartbeat every 0.5 s).
    settings.TASKQUEUE = {**settings.TASKQUEUE, "RUNNER_HEARTBEAT_SECONDS": 60}


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_the_dashboard_updates_in_place_until_paused(admin_url, page, quick_refresh):
    from playwright.sync_api import expect

    seed_a_busy_shop()
    page.goto(admin_url + "django_taskqueue/queuestate/")
    queued = page.locator("tr[data-queue=emails] [data-status=queued] .tq-count")
    expect(queued).to_have_text("5")
    page.evaluate(f"{MARKER} = true")

    enqueue_by_alias("SendWelcomeEmail", {"customer_id": 3000})
    expect(queued).to_have_text("6")
    assert page.evaluate(MARKER) is True

    toggle = page.locator("#tq-refresh-toggle")
    toggle.click()
    expect(toggle).to_have_text("Resume updates")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#tq-refresh-status")).to_have_text("Updates paused")
    enqueue_by_alias("SendWelcomeEmail", {"customer_id": 3001})
    page.wait_for_timeout(2500)  # two and a half refresh intervals
    expect(queued).to_have_text("6")

    toggle.click()
    expect(toggle).to_have_text("Pause updates")
    expect(queued).to_have_text("7")
    assert page.evaluate(MARKER) is True

    # The forms of a swapped-in fragment still post, with a valid CSRF token.
    page.locator("tr[data-queue=emails]").get_by_role("button", name="Pause").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile("Queue .emails. paused"))


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_the_dashboard_figures_read_at_a_glance(admin_url, page, quick_refresh):
    from playwright.sync_api import expect

    seed_a_busy_shop()
    Runner.objects.filter(hostname="worker-2").update(
        heartbeat_at=timezone.now() - timedelta(seconds=3)
    )
    page.goto(admin_url + "django_taskqueue/queuestate/")
    labels = page.locator(".tq-total svg.tq-chart text.tq-axis-label")
    expect(labels).to_have_count(3)
    assert all(re.fullmatch(r"\d\d:\d\d", text) for text in labels.all_text_contents())
    maintenance = page.locator("tr[data-queue=maintenance]")
    expect(maintenance.locator(".tq-next")).to_have_text(
        re.compile(r"^in (59 min \d+ s|1 h 0 min)$")
    )
    expect(maintenance.locator(".tq-oldest")).to_have_text("—")  # its one item is not due yet
    expect(page.locator("tr[data-queue=emails] .tq-oldest")).to_have_text(re.compile(r" s$"))
    heartbeats = page.locator(".tq-runner .tq-heartbeat")
    expect(heartbeats).to_have_count(2)
    expect(heartbeats.last).to_have_text(re.compile(r"^\d+ s ago$"))


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS[:1], indirect=True)
def test_an_operator_sets_and_lifts_a_queues_limits(admin_url, page):
    from playwright.sync_api import expect

    from django_taskqueue.models import QueueState

    seed_a_busy_shop()
    page.goto(admin_url + "django_taskqueue/queuestate/")
    row = page.locator("tr[data-queue=emails]")
    row.locator("input[name=concurrency_limit]").fill("3")
    row.locator("input[name=rate_limit]").fill("20/s")
    row.locator(".tq-limits button").click()
    expect(page.locator(".messagelist")).to_contain_text("at most 3 running, at most 20/s")
    state = QueueState.objects.get(name="emails")
    assert (state.concurrency_limit, state.rate_limit) == (3, "20/s")
    row = page.locator("tr[data-queue=emails]")
    expect(row.locator("input[name=rate_limit]")).to_have_value("20/s")
    row.locator("input[name=rate_limit]").fill("fast")
    row.locator(".tq-limits button").click()
    expect(page.locator(".messagelist")).to_contain_text("rate_limit must be")
    row = page.locator("tr[data-queue=emails]")
    row.locator("input[name=concurrency_limit]").fill("")
    row.locator("input[name=rate_limit]").fill("")
    row.locator(".tq-limits button").click()
    expect(page.locator(".messagelist")).to_contain_text("no limits")
    state.refresh_from_db()
    assert (state.concurrency_limit, state.rate_limit) == (None, "")
