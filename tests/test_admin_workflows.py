"""The workflow admin through Django's test client: the list with its counts, the read-only page
and its SVG graph (boxes coloured by status, linking to their items, capped per column), Cancel
and its permission; and on an item's page, its workflow, parents and children."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_taskqueue import chain, enqueue_by_alias, enqueue_workflow, group
from django_taskqueue.admin.workflow_graph import MAX_PER_COLUMN, depths, layout
from django_taskqueue.lineage import StepRow
from django_taskqueue.models import QueueItem, TaskDefinition, Workflow

from .test_admin import messages_of, post_action, staff_client

pytestmark = pytest.mark.django_db

WORKFLOWS_URL = reverse("admin:django_taskqueue_workflow_changelist")
ITEMS_URL = reverse("admin:django_taskqueue_queueitem_changelist")
NODE = re.compile(
    r'<a class="tq-node tq-status-(\w+)" href="([^"]+)"(?: data-item="(\d+)")? data-status'
)


def step(name: str) -> tuple[str, dict[str, str]]:
    return ("Step", {"name": name})


def page_url(workflow: Workflow) -> str:
    return reverse("admin:django_taskqueue_workflow_change", args=[workflow.pk])


def cancel_url(workflow: Workflow) -> str:
    return reverse("admin:django_taskqueue_workflow_cancel", args=[workflow.pk])


def item_url(item_id: int) -> str:
    return reverse("admin:django_taskqueue_queueitem_change", args=[item_id])


def nodes(html: str) -> list[tuple[str, str, str]]:
    """``(status, href, item id)`` of each box of the graph ("" for a "+k more" box)."""
    return NODE.findall(html)


# --------------------------------------------------------------------------- change list


def test_the_list_shows_name_status_counts_and_times_newest_first(admin_client):
    older = enqueue_workflow(chain(step("a"), step("b"), step("c")), name="order 7")
    newer = enqueue_workflow(step("alone"))
    newer.cancel()
    response = admin_client.get(WORKFLOWS_URL)
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert [workflow.pk for workflow in rows] == [newer.pk, older.pk]
    html = response.content.decode()
    assert "order 7" in html
    assert '<span class="tq-badge tq-status-canceled">Canceled</span>' in html
    assert '<span class="tq-badge tq-status-running">Running</span>' in html
    assert (
        '<span class="tq-badge tq-status-waiting">Waiting for parents '
        '<span class="tq-count">2</span></span>'
    ) in html
    assert '<span class="tq-badge tq-status-queued">Queued <span class="tq-count">1</span>' in html


def test_the_list_filters_by_status(admin_client):
    enqueue_workflow(step("running"))
    canceled = enqueue_workflow(step("canceled"))
    canceled.cancel()
    listed = admin_client.get(WORKFLOWS_URL, {"status__exact": "canceled"}).context["cl"]
    assert [workflow.pk for workflow in listed.result_list] == [canceled.pk]


def test_the_list_costs_the_same_queries_whatever_its_length(admin_client):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(WORKFLOWS_URL).status_code == 200
        return len(captured)

    enqueue_workflow(chain(step("a"), step("b")))
    few = queries()
    for _ in range(8):
        enqueue_workflow(chain(step("a"), step("b")))
    assert queries() == few


# --------------------------------------------------------------------------- the page


def test_the_page_is_read_only_and_draws_every_step_linking_to_its_item(admin_client):
    workflow = enqueue_workflow(
        chain(step("fetch"), group(step("a"), step("b"), then=step("join"))), name="fan-in"
    )
    fetch, a, b, join = workflow.items.order_by("id")
    QueueItem.objects.filter(pk=fetch.pk).update(status="success")
    QueueItem.objects.filter(pk=a.pk).update(status="running")
    response = admin_client.get(page_url(workflow))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html and 'name="name"' not in html  # nothing to edit
    assert f'href="{ITEMS_URL}?workflow__id__exact={workflow.pk}">4 items</a>' in html
    assert '<svg class="tq-graph"' in html
    drawn = {int(pk): (status, href) for status, href, pk in nodes(html)}
    assert drawn == {
        fetch.pk: ("success", item_url(fetch.pk)),
        a.pk: ("running", item_url(a.pk)),
        b.pk: ("waiting", item_url(b.pk)),
        join.pk: ("waiting", item_url(join.pk)),
    }
    assert html.count('class="tq-edge"') == 4  # fetch→a, fetch→b, a→join, b→join
    assert f"<title>#{join.pk} Step: waiting</title>" in html


def test_columns_follow_depth_even_when_a_child_has_the_smaller_id():
    # A workflow's rows are inserted per kind of step, so ids need not follow the graph.
    steps = [
        StepRow(1, "Publish", "waiting", [3, 2]),
        StepRow(2, "Fetch", "queued", []),
        StepRow(3, "Resize", "waiting", [2]),
    ]
    assert depths(steps) == {2: 0, 3: 1, 1: 2}
    graph = layout(steps)
    x_of = {box.step_id: box.x for box in graph.boxes}
    assert x_of[2] < x_of[3] < x_of[1]
    assert len(graph.edges) == 3 and graph.hidden_steps == 0


def test_a_wide_column_draws_its_first_steps_and_sums_up_the_rest(admin_client):
    members = [step(f"m{n}") for n in range(MAX_PER_COLUMN + 30)]
    workflow = enqueue_workflow(chain(step("start"), group(*members, then=step("end"))))
    html = admin_client.get(page_url(workflow)).content.decode()
    drawn = nodes(html)
    assert len([node for node in drawn if node[2]]) == 1 + MAX_PER_COLUMN + 1
    more = [node for node in drawn if not node[2]]
    assert more == [("more", f"{ITEMS_URL}?workflow__id__exact={workflow.pk}", "")]
    assert ">+30 more</text>" in html
    assert "30 steps are not drawn" in html
    # start→each drawn member and →"+30 more"; each drawn member and "+30 more" → end.
    assert html.count('class="tq-edge"') == 2 * (MAX_PER_COLUMN + 1)


def test_a_long_chain_stops_after_its_last_column():
    steps = [StepRow(n, "Step", "waiting", [n - 1] if n > 1 else []) for n in range(1, 61)]
    graph = layout(steps)
    assert len(graph.boxes) == 40 and graph.hidden_columns == 20 and graph.hidden_steps == 20


def test_the_workflow_list_of_items_shows_its_steps(admin_client):
    workflow = enqueue_workflow(chain(step("a"), step("b")))
    enqueue_by_alias("Step", {"name": "elsewhere"})
    listed = admin_client.get(ITEMS_URL, {"workflow__id__exact": workflow.pk}).context["cl"]
    assert sorted(item.pk for item in listed.result_list) == sorted(
        workflow.items.values_list("pk", flat=True)
    )


# --------------------------------------------------------------------------- cancel


def test_cancel_workflow_cancels_its_steps_and_is_in_the_history(admin_client):
    workflow = enqueue_workflow(chain(step("one"), step("two"), step("three")))
    assert "Cancel workflow" in admin_client.get(page_url(workflow)).content.decode()
    response = admin_client.post(cancel_url(workflow), follow=True)
    assert response.redirect_chain[-1][0] == page_url(workflow)
    assert messages_of(response) == [f"Workflow #{workflow.pk}: cancel: 3 item(s) changed."]
    workflow.refresh_from_db()
    assert workflow.status == "canceled"
    assert set(workflow.items.values_list("status", flat=True)) == {"canceled"}
    entry = LogEntry.objects.get(
        object_id=str(workflow.pk), content_type=ContentType.objects.get_for_model(Workflow)
    )
    items = ContentType.objects.get_for_model(QueueItem)
    for item_id in workflow.items.values_list("pk", flat=True):  # and each step's History
        assert LogEntry.objects.filter(object_id=str(item_id), content_type=items).exists()
    assert "via admin" in entry.change_message
    # Finished now: no button, and a forged post says why and changes nothing.
    assert "Cancel workflow" not in response.content.decode()
    again = admin_client.post(cancel_url(workflow), follow=True)
    assert messages_of(again) == [
        f"Workflow #{workflow.pk} is canceled: it has nothing left to cancel."
    ]


def test_cancel_needs_the_permission_to_cancel_items():
    workflow = enqueue_workflow(chain(step("one"), step("two")))
    viewer = staff_client("view_workflow")
    page = viewer.get(page_url(workflow))
    assert page.status_code == 200 and "Cancel workflow" not in page.content.decode()
    assert viewer.post(cancel_url(workflow)).status_code == 403
    assert viewer.get(WORKFLOWS_URL).context["action_form"] is None  # no action offered
    assert Workflow.objects.get(pk=workflow.pk).status == "running"

    canceler = staff_client("view_workflow", "cancel_queueitem")
    assert "Cancel workflow" in canceler.get(page_url(workflow)).content.decode()
    response = post_action(canceler, "cancel_selected", workflow, url=WORKFLOWS_URL)
    assert messages_of(response) == [f"Workflow #{workflow.pk}: cancel: 2 item(s) changed."]
    assert Workflow.objects.get(pk=workflow.pk).status == "canceled"


def test_cancel_answers_only_posts_for_workflows_that_exist(admin_client):
    workflow = enqueue_workflow(step("one"))
    assert admin_client.get(cancel_url(workflow)).status_code == 405
    missing = reverse("admin:django_taskqueue_workflow_cancel", args=[999999])
    assert admin_client.post(missing).status_code == 404
    assert Workflow.objects.get(pk=workflow.pk).status == "running"


def test_workflows_are_never_added_edited_or_deleted_here(admin_client):
    workflow = enqueue_workflow(step("one"))
    assert admin_client.get(reverse("admin:django_taskqueue_workflow_add")).status_code == 403
    delete = reverse("admin:django_taskqueue_workflow_delete", args=[workflow.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    admin_client.post(page_url(workflow), {"name": "renamed"})
    assert Workflow.objects.get(pk=workflow.pk).name == ""
    assert Workflow.objects.filter(pk=workflow.pk).exists()


def test_staff_without_the_view_permission_gets_403():
    workflow = enqueue_workflow(step("one"))
    client = staff_client("view_queueitem")
    assert client.get(WORKFLOWS_URL).status_code == 403
    assert client.get(page_url(workflow)).status_code == 403


# --------------------------------------------------------------------------- the item page


def test_a_steps_page_links_to_its_workflow_parents_and_children(admin_client):
    workflow = enqueue_workflow(
        chain(step("fetch"), group(step("a"), step("b"), then=step("join"))), name="fan-in"
    )
    fetch, a, b, join = workflow.items.order_by("id")
    html = admin_client.get(item_url(a.pk)).content.decode()
    assert "Workflow and dependencies" in html
    assert f'<a href="{page_url(workflow)}">{workflow}</a>' in html
    parents = html[html.index("field-parents_links") : html.index("field-children_links")]
    assert f'<a href="{item_url(fetch.pk)}">#{fetch.pk} Step</a>' in parents
    children = html[html.index("field-children_links") : html.index("field-on_parent_failure")]
    assert f'<a href="{item_url(join.pk)}">#{join.pk} Step</a>' in children
    join_page = admin_client.get(item_url(join.pk)).content.decode()
    assert join_page.index(f"#{a.pk} Step</a>") < join_page.index(f"#{b.pk} Step</a>")
    assert f"waiting for parent(s) #{a.pk}, #{b.pk}" in join_page


def test_an_item_with_no_graph_has_no_such_section(admin_client):
    item = enqueue_by_alias("Step", {})
    assert "Workflow and dependencies" not in admin_client.get(item_url(item.pk)).content.decode()


def test_many_parents_are_listed_up_to_twenty_and_the_rest_are_a_filtered_list(admin_client):
    parents = [enqueue_by_alias("Step", {}) for _ in range(25)]
    child = enqueue_by_alias("Step", {}, depends_on=parents)
    html = admin_client.get(item_url(child.pk)).content.decode()
    rest = f"{ITEMS_URL}?children__id__exact={child.pk}"
    assert f'<a href="{rest}">and 5 more</a>' in html
    assert html.count('<a href="/admin/django_taskqueue/queueitem/') >= 20
    listed = admin_client.get(rest).context["cl"]
    assert sorted(item.pk for item in listed.result_list) == sorted(p.pk for p in parents)
    kids = admin_client.get(ITEMS_URL, {"parents__id__exact": parents[0].pk}).context["cl"]
    assert [item.pk for item in kids.result_list] == [child.pk]


@pytest.mark.parametrize("relation", ["children", "parents"])
def test_a_bad_id_in_a_parents_or_children_list_is_the_admins_error_page_or_empty(
    admin_client, relation
):
    enqueue_by_alias("Step", {}, depends_on=[enqueue_by_alias("Step", {})])
    response = admin_client.get(ITEMS_URL, {f"{relation}__id__exact": "abc"})
    assert (response.status_code, response["Location"]) == (302, f"{ITEMS_URL}?e=1")
    for unknown in ("-1", "99999999999999999999999"):
        listed = admin_client.get(ITEMS_URL, {f"{relation}__id__exact": unknown})
        assert listed.status_code == 200 and not listed.context["cl"].result_list


def test_waiting_items_have_their_colour_and_their_filter(admin_client):
    parent = enqueue_by_alias("Step", {})
    child = enqueue_by_alias("Step", {}, depends_on=[parent])
    response = admin_client.get(ITEMS_URL, {"status__exact": "waiting"})
    assert [item.pk for item in response.context["cl"].result_list] == [child.pk]
    html = response.content.decode()
    assert '<span class="tq-badge tq-status-waiting">Waiting for parents</span>' in html
    assert "?status__exact=waiting" in html  # offered by the status filter


def test_only_the_first_steps_by_id_are_laid_out_past_the_cap(admin_client, monkeypatch):
    monkeypatch.setattr("django_taskqueue.admin.workflows.MAX_GRAPH_STEPS", 3)
    workflow = enqueue_workflow(chain(*(step(str(n)) for n in range(5))))
    html = admin_client.get(page_url(workflow)).content.decode()
    assert len(nodes(html)) == 3
    assert "Only the first 3 steps (by id) are laid out." in html


# --------------------------------------------------------------------------- enqueue form


def enqueue_url() -> str:
    definition = TaskDefinition.objects.for_alias("Step")
    return reverse("admin:django_taskqueue_taskdefinition_enqueue", args=[definition.pk])


def enqueue_form(**changes: str) -> dict[str, str]:
    form = {"parameters": "{}", "queue_name": "", "priority": "", "delay_seconds": ""}
    return form | {"depends_on": "", "on_parent_failure": "cancel", "webhook_url": ""} | changes


def test_the_enqueue_form_takes_the_dependency_fields(admin_client):
    a, b = enqueue_by_alias("Step", {}), enqueue_by_alias("Step", {})
    response = admin_client.post(
        enqueue_url(),
        enqueue_form(
            depends_on=f"{b.pk}, {a.pk}",
            on_parent_failure="run",
            webhook_url="https://example.com/hook",
        ),
    )
    assert response.status_code == 302, response.content
    child = QueueItem.objects.order_by("-id").first()
    assert response["Location"] == item_url(child.pk)
    assert (child.status, child.on_parent_failure) == ("waiting", "run")
    assert child.webhook_url == "https://example.com/hook"
    assert list(child.parents.order_by("child_links__position")) == [b, a]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"depends_on": "three"}, "An item id must be a whole number"),
        ({"depends_on": "424242"}, "#424242, which do not exist"),
        ({"on_parent_failure": "ignore"}, "Select a valid choice"),
        ({"webhook_url": "ftp://example.com"}, "http:// or https://"),
    ],
)
def test_bad_dependency_fields_are_form_errors_and_write_nothing(admin_client, fields, message):
    response = admin_client.post(enqueue_url(), enqueue_form(**fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not QueueItem.all_objects.exists()
