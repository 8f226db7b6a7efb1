"""Schedules in a real browser: the list says when each fires, a schedule's page its next fire
times, and "Fire now" makes an item the page links to."""

from __future__ import annotations

import re

import pytest

from django_taskqueue.models import QueueItem, Schedule

from .conftest import VIEWPORT_WIDTHS
from .test_list_widths import FITS, OVERFLOW

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def nightly_report() -> Schedule:
    schedule = Schedule(
        name="nightly-report",
        alias="Record",
        cron="0 2 * * *",
        timezone="Europe/Berlin",
        parameters={"value": "report"},
    )
    schedule.full_clean()
    schedule.save()
    return schedule


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_operator_finds_a_schedule_and_fires_it_now(admin_url, page):
    from playwright.sync_api import expect

    schedule = nightly_report()
    page.goto(admin_url)
    page.get_by_role("link", name="Schedules", exact=True).click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".field-description_column")).to_have_text("At 02:00 every day")
    assert page.evaluate(OVERFLOW) == FITS

    rows.first.get_by_role("link", name="nightly-report").click()
    expect(page.locator(".tq-upcoming tbody tr")).to_have_count(5)
    expect(page.locator(".field-items_link .readonly")).to_have_text("0 items fired")
    assert page.evaluate(OVERFLOW) == FITS
    schedule_page = page.url

    page.get_by_role("button", name="Fire now").click()
    expect(page.locator(".messagelist")).to_have_text(
        re.compile(r"Fired “nightly-report” now: created item #\d+\.")
    )
    assert page.url == schedule_page
    item = QueueItem.objects.get()
    assert (item.schedule_id, item.parameters) == (schedule.pk, {"value": "report"})
    expect(page.locator(".field-items_link .readonly")).to_have_text("1 item fired")

    page.locator(".messagelist").get_by_role("link", name=f"#{item.pk}").click()
    expect(page.locator(".field-schedule_link .readonly")).to_have_text("nightly-report")
    expect(page.locator(".field-scheduled_for_exact .readonly")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    )
