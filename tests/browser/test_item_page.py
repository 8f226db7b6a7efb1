"""An item's page in a real browser: its action buttons, its History, the attempt in progress."""

from __future__ import annotations

import re

import pytest

from django_taskqueue.models import QueueItem

from .conftest import VIEWPORT_WIDTHS
from .shop import running_item, seed_a_busy_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def buttons(page) -> list[str]:
    return page.locator(".object-tools .tq-action").all_inner_texts()


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_buttons_act_on_the_item_and_show_in_its_history(admin_url, page):
    from playwright.sync_api import expect

    webhook = seed_a_busy_shop()
    item_page = f"{admin_url}django_taskqueue/queueitem/{webhook.pk}/change/"
    page.goto(item_page)
    assert buttons(page) == ["REQUEUE", "DELETE"]  # a failed item: nothing to cancel or pause

    page.get_by_role("button", name="Requeue").click()
    expect(page.locator(".messagelist")).to_have_text(f"Item #{webhook.pk}: Requeued.")
    assert page.url == item_page
    assert QueueItem.objects.get(pk=webhook.pk).status == "queued"
    assert buttons(page) == ["RUN NOW", "PAUSE", "CANCEL", "DELETE"]

    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".messagelist")).to_contain_text("Paused")
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".messagelist")).to_contain_text("Deleted (soft)")
    assert "RESTORE" in buttons(page)
    page.get_by_role("button", name="Restore").click()
    expect(page.locator(".messagelist")).to_contain_text("Restored")
    assert QueueItem.objects.get(pk=webhook.pk).status == "paused"

    page.get_by_role("link", name="History").click()
    entries = page.locator("#change-history tbody tr")
    expect(entries).to_have_count(4)
    history = " ".join(entries.all_inner_texts())
    for done in ("Requeued", "Paused", "Deleted (soft)", "Restored"):
        assert f"{done} (via admin)" in history


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_a_running_item_offers_cancel_and_says_it_is_running(admin_url, page):
    from playwright.sync_api import expect

    seed_a_busy_shop()
    item = running_item()
    page.goto(f"{admin_url}django_taskqueue/queueitem/{item.pk}/change/")
    assert buttons(page) == ["CANCEL"]
    attempts = page.locator(".field-attempt_history")
    expect(attempts).not_to_contain_text("Not run yet")
    expect(attempts.locator(".tq-attempt-running")).to_contain_text("worker-2:977")
    expect(attempts.locator(".tq-attempt-running")).to_contain_text(re.compile(r"running for"))
    expect(page.locator(".field-started_at_exact .readonly")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    )
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Item #{item.pk}: Canceled")
    expect(page.locator(".field-colored_status")).to_contain_text("Canceling")
    assert buttons(page) == ["CANCEL"]  # still running until its runner stops it
