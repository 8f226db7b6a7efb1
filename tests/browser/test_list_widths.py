"""Every admin list fits a laptop and a desktop screen: no clipped column, no sideways scroll."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskqueue.models import QueueItem, Runner, TaskDefinition

from .conftest import VIEWPORT_WIDTHS
from .shop import running_item, seed_a_busy_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# How far the page, the change list's table and any other table scroll or stick out sideways
# (0: they fit).
OVERFLOW = """() => {
  const page = document.documentElement;
  const results = document.querySelector('.results') || page;
  const tables = [...document.querySelectorAll('#content table')].map(
    table => table.getBoundingClientRect().right - table.parentElement.getBoundingClientRect().right
  );
  return {
    page: page.scrollWidth - page.clientWidth,
    results: results.scrollWidth - results.clientWidth,
    tables: Math.max(0, Math.ceil(Math.max(0, ...tables))),
  };
}"""
FITS = {"page": 0, "results": 0, "tables": 0}

LISTS = [
    "django_taskqueue/queueitem/",
    "django_taskqueue/queueitem/?status__exact=failed",
    "django_taskqueue/taskdefinition/",
    "django_taskqueue/runner/",
    "django_taskqueue/queuestate/",
]


def widest_values() -> None:
    """An item as wide as the list gets: an eight-digit id, last year's times."""
    last_year = timezone.now() - timedelta(days=400)
    item = QueueItem.objects.filter(status="queued", attempt_log=None).first()
    QueueItem.all_objects.filter(pk=item.pk).update(
        id=12_345_678, created_at=last_year, run_at=last_year, started_at=last_year
    )


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_no_list_scrolls_sideways(admin_url, page):
    seed_a_busy_shop()
    widest_values()
    Runner.objects.update(heartbeat_at=timezone.now())
    for path in LISTS:
        page.goto(admin_url + path)
        assert page.evaluate(OVERFLOW) == FITS, path


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_no_detail_page_scrolls_sideways(admin_url, page):
    webhook = seed_a_busy_shop()
    pages = [
        f"django_taskqueue/queueitem/{webhook.pk}/change/",
        f"django_taskqueue/queueitem/{running_item().pk}/change/",
        f"django_taskqueue/taskdefinition/{TaskDefinition.objects.first().pk}/change/",
        "django_taskqueue/runner/worker-1-4242/change/",
    ]
    for path in pages:
        page.goto(admin_url + path)
        assert page.evaluate(OVERFLOW) == FITS, path


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_runner_queues_read_as_text(admin_url, page):
    from playwright.sync_api import expect

    seed_a_busy_shop()
    page.goto(admin_url + "django_taskqueue/runner/")
    cells = page.locator("td.field-queue_names")
    expect(cells).to_have_count(2)
    assert sorted(cells.all_inner_texts()) == ["emails, webhooks", "reports"]
    page.goto(admin_url + "django_taskqueue/runner/worker-1-4242/change/")
    expect(page.locator(".field-queue_names .readonly")).to_have_text("emails, webhooks")
