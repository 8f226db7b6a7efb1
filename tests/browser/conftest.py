"""A real Chromium, driven by Playwright, against pytest-django's live server.

Missing Chromium or Playwright fails these tests instead of skipping them: CI installs both,
and a console nobody clicked through is not tested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is intended.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# A laptop and a desktop screen; the admin must fit both. Tests choose one with
# ``@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)``; the default is the
# laptop, at which the screenshots are taken.
VIEWPORT_WIDTHS = (1366, 1920)


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    width = getattr(request, "param", VIEWPORT_WIDTHS[0])
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: install Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(10_000)
            yield page
        finally:
            browser.close()
            # Inside sync_playwright() the test runs in another greenlet, whose contextvars
            # give Django a separate connection; close it here or PostgreSQL refuses to drop
            # the test database ("being accessed by other users").
            connections.close_all()


@pytest.fixture
def admin_url(live_server, page) -> str:
    """The admin's address, with ``page`` logged in as a superuser."""
    from django.contrib.auth.models import User

    User.objects.create_superuser("operator", "ops@example.com", "correct horse")
    admin = f"{live_server.url}/admin/"
    page.goto(admin)
    page.fill("#id_username", "operator")
    page.fill("#id_password", "correct horse")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return admin


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: the test's tmp dir, or ``docs/screenshots`` when refreshing them.

    ``TASKQUEUE_UPDATE_SCREENSHOTS=1`` rewrites the committed images; ordinary runs leave the
    working tree alone.
    """
    return SCREENSHOTS if os.environ.get("TASKQUEUE_UPDATE_SCREENSHOTS") else tmp_path
