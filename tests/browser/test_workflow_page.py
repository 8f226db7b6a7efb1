"""A workflow in a real browser: its page draws the graph with boxes in their statuses' colours,
a click on a box opens the step's item, and the item's page links back to the workflow."""

from __future__ import annotations

import pytest

from django_taskqueue import chain, enqueue_workflow, group
from django_taskqueue.models import QueueItem

from .conftest import VIEWPORT_WIDTHS
from .test_list_widths import FITS, OVERFLOW

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The colours of admin.css, as the browser computes them.
COLOURS = {
    "success": "rgb(21, 128, 61)",
    "running": "rgb(217, 119, 6)",
    "waiting": "rgb(14, 116, 144)",
}
FILL = "node => getComputedStyle(node.querySelector('rect')).fill"


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_operator_follows_a_workflow_to_a_step_and_back(admin_url, page, screenshot_dir):
    from playwright.sync_api import expect

    workflow = enqueue_workflow(
        chain(
            ("ExportOrdersReport", {"days": 1}),
            group(
                ("SendWelcomeEmail", {"customer_id": 42}),
                ("SendWelcomeEmail", {"customer_id": 43}),
                then=("CallWebhook", {"url": "https://example.com/hook", "event": "welcomed"}),
            ),
        ),
        name="new customers",
    )
    steps = {
        (item.definition.alias, item.parameters.get("customer_id")): item
        for item in workflow.items.select_related("definition")
    }
    export, first, second, webhook = (
        steps[("ExportOrdersReport", None)],
        steps[("SendWelcomeEmail", 42)],
        steps[("SendWelcomeEmail", 43)],
        steps[("CallWebhook", None)],
    )
    QueueItem.objects.filter(pk=export.pk).update(status="success")
    QueueItem.objects.filter(pk=first.pk).update(status="running")

    page.goto(admin_url)
    page.get_by_role("link", name="Workflows", exact=True).click()
    assert page.evaluate(OVERFLOW) == FITS
    page.locator("#result_list").get_by_role("link", name="new customers").click()
    graph = page.locator("svg.tq-graph")
    expect(graph).to_be_visible()
    boxes = graph.locator("a.tq-node")
    expect(boxes).to_have_count(4)
    expect(graph.locator("path.tq-edge")).to_have_count(4)
    for item, status in [(export, "success"), (first, "running"), (second, "waiting")]:
        box = graph.locator(f'a.tq-node[data-item="{item.pk}"]')
        expect(box).to_have_attribute("data-status", status)
        assert box.evaluate(FILL) == COLOURS[status]
    assert page.evaluate(OVERFLOW) == FITS
    if page.viewport_size["width"] == VIEWPORT_WIDTHS[0]:
        page.screenshot(path=str(screenshot_dir / "workflow-graph.png"), full_page=True)

    graph.locator(f'a.tq-node[data-item="{webhook.pk}"]').click()
    expect(page).to_have_url(f"{admin_url}django_taskqueue/queueitem/{webhook.pk}/change/")
    expect(page.locator(".field-waiting_reason .readonly")).to_have_text(
        f"waiting for parent(s) #{first.pk}, #{second.pk}"
    )
    parents = page.locator(".field-parents_links .readonly a")
    expect(parents).to_have_text(
        [f"#{first.pk} SendWelcomeEmail", f"#{second.pk} SendWelcomeEmail"]
    )

    page.locator(".field-workflow_link .readonly").get_by_role("link").click()
    expect(page).to_have_url(f"{admin_url}django_taskqueue/workflow/{workflow.pk}/change/")
    expect(page.locator("svg.tq-graph a.tq-node")).to_have_count(4)


@pytest.mark.parametrize("page", VIEWPORT_WIDTHS, indirect=True)
def test_a_graph_wider_than_the_screen_scrolls_in_its_frame_not_the_page(admin_url, page):
    from playwright.sync_api import expect

    workflow = enqueue_workflow(chain(*(("Step", {"n": n}) for n in range(15))))
    page.goto(f"{admin_url}django_taskqueue/workflow/{workflow.pk}/change/")
    expect(page.locator("svg.tq-graph a.tq-node")).to_have_count(15)
    assert page.evaluate(OVERFLOW) == FITS
    frame = page.locator(".tq-graph-frame")
    assert frame.evaluate("frame => frame.scrollWidth > frame.clientWidth")
