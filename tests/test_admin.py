"""The admin console through Django's test client: lists, actions, permissions, forms, dashboard."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.actions import DESCRIPTION, REQUIRED_PERMISSION, set_queue_paused
from django_taskqueue.admin.charts import minute_chart
from django_taskqueue.admin.display import cut_with_title
from django_taskqueue.admin.filters import EstimatedCountPaginator
from django_taskqueue.models import (
    QueueItem,
    QueueItemAttempt,
    QueueState,
    Runner,
    TaskDefinition,
)
from django_taskqueue.store import get_store

pytestmark = pytest.mark.django_db

ITEMS_URL = reverse("admin:django_taskqueue_queueitem_changelist")
DEFINITIONS_URL = reverse("admin:django_taskqueue_taskdefinition_changelist")
DASHBOARD_URL = reverse("admin:django_taskqueue_queuestate_changelist")
SET_PAUSED_URL = reverse("admin:django_taskqueue_queuestate_set_paused")


def make_item(status: str = "queued", alias: str = "Record", **changes: object) -> QueueItem:
    """An item enqueued the real way, then moved to ``status`` as a runner would leave it."""
    item = enqueue_by_alias(alias, {"value": "sample"})
    now = timezone.now()
    if status in ("running", "success", "failed", "canceled"):
        changes.setdefault("started_at", now - timedelta(seconds=2))
        changes.setdefault("attempts", 1)
    if status in ("success", "failed", "canceled"):
        changes.setdefault("completed_at", now)
    QueueItem.all_objects.filter(pk=item.pk).update(status=status, **changes)
    item.refresh_from_db()
    if item.started_at and item.completed_at:  # and the attempt that finished it
        QueueItemAttempt.objects.create(
            item=item,
            number=item.attempts,
            outcome=status,
            started_at=item.started_at,
            finished_at=item.completed_at,
            queue_name=item.queue_name,
            definition_id=item.definition_id,
            enqueued_at=item.created_at,
        )
    return item


def staff_client(*codenames: str) -> Client:
    """A logged-in staff user holding exactly these django_taskqueue permissions."""
    user = User.objects.create_user(f"staff-{'-'.join(codenames) or 'none'}", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_taskqueue", codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


def post_action(client: Client, action: str, *items: QueueItem, url: str = ITEMS_URL):
    return client.post(
        url, {"action": action, ACTION_CHECKBOX_NAME: [item.pk for item in items]}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def status_of(item: QueueItem) -> str:
    return QueueItem.all_objects.values_list("status", flat=True).get(pk=item.pk)


# --------------------------------------------------------------------------- change list


def test_change_list_shows_an_operators_columns(admin_client):
    item = make_item("failed", attempts=1, priority=7)
    response = admin_client.get(ITEMS_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="tq-badge tq-status-failed"' in html
    assert "Record" in html
    assert "1 / 1" in html  # attempts / max attempts
    assert "2.00 s" in html  # duration
    assert reverse("admin:django_taskqueue_queueitem_change", args=[item.pk]) in html
    assert reverse("admin:django_taskqueue_queuestate_changelist") in html  # dashboard link


def test_deleted_items_are_hidden_until_the_filter_asks_for_them(admin_client):
    alive, deleted = make_item(), make_item()
    deleted.soft_delete()
    shown = admin_client.get(ITEMS_URL).context["cl"].result_list
    assert [item.pk for item in shown] == [alive.pk]
    only = admin_client.get(ITEMS_URL, {"deleted": "only"}).context["cl"].result_list
    assert [item.pk for item in only] == [deleted.pk]
    both = admin_client.get(ITEMS_URL, {"deleted": "all"}).context["cl"].result_list
    assert {item.pk for item in both} == {alive.pk, deleted.pk}


def test_filters_by_status_queue_and_definition(admin_client):
    failed = make_item("failed")
    make_item("success")
    noop = enqueue_by_alias("Noop", queue_name="other")

    def listed(**params):
        return {item.pk for item in admin_client.get(ITEMS_URL, params).context["cl"].result_list}

    assert listed(status="failed") == {failed.pk}
    assert listed(queue="other") == {noop.pk}
    assert listed(definition__id__exact=noop.definition_id) == {noop.pk}


def test_one_queue_lists_newest_first_and_bounds_the_dates_by_its_own_items(admin_client):
    march = timezone.make_aware(datetime(2026, 3, 3, 12))
    older = make_item("success", created_at=march)
    make_item("success", created_at=march.replace(year=2024))  # another queue's, between
    QueueItem.objects.exclude(pk=older.pk).update(queue_name="other")
    newer = make_item("failed", created_at=march.replace(day=5))
    cl = admin_client.get(ITEMS_URL, {"queue": "tests"}).context["cl"]
    assert [item.pk for item in cl.result_list] == [newer.pk, older.pk]
    assert [c["title"] for c in cl.range_date_hierarchy["choices"]] == [
        f"March {d}" for d in (3, 4, 5)
    ]
    failed = admin_client.get(ITEMS_URL, {"queue": "tests", "status__exact": "failed"})
    assert [item.pk for item in failed.context["cl"].result_list] == [newer.pk]


def test_queue_filter_offers_defined_switched_and_served_queues(admin_client):
    QueueState.objects.create(name="paused-once")
    Runner.objects.create(id="r1", hostname="h", pid=1, queues=["adhoc"], concurrency=1)
    Runner.objects.create(
        id="r2", hostname="h", pid=2, queues=["gone"], concurrency=1, stopped_at=timezone.now()
    )
    enqueue_by_alias("Noop", queue_name="unserved")
    filters = admin_client.get(ITEMS_URL).context["cl"].filter_specs
    queue_filter = next(f for f in filters if getattr(f, "parameter_name", None) == "queue")
    offered = {name for name, _ in queue_filter.lookup_choices}
    assert {"tests", "paused-once", "adhoc"} <= offered
    assert not offered & {"gone", "unserved"}  # a stopped runner's; one only items name


def test_search_finds_items_by_id_alias_and_parameter_text(admin_client):
    needle = enqueue_by_alias("Record", {"customer": "needle-4711"})
    noop = enqueue_by_alias("Noop")
    enqueue_by_alias("Record", {"customer": noop.pk})  # a number means the id, not this

    def found(term):
        return {
            item.pk for item in admin_client.get(ITEMS_URL, {"q": term}).context["cl"].result_list
        }

    assert found(str(noop.pk)) == {noop.pk}
    assert found(f" #{noop.pk} ") == {noop.pk}
    assert found("9" * 30) == set()  # beyond any id: no match, no database error
    assert found("²") == set()  # a digit to isdigit(), not a number to int()
    assert found("noop") == {noop.pk}
    assert found("needle-4711") == {needle.pk}


def test_change_list_query_count_does_not_grow_with_rows(admin_client):
    runner = Runner.objects.create(id="r1", hostname="h", pid=1, queues=["tests"], concurrency=1)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(ITEMS_URL).status_code == 200
        return len(queries)

    make_item("running", runner=runner)
    few = queries_for_list()
    for status in ["queued", "running", "failed", "success", "paused"] * 6:
        make_item(status, runner=runner)
        enqueue_by_alias("Noop", queue_name=f"q{QueueItem.all_objects.count()}")
    assert queries_for_list() == few


def test_change_list_never_scans_for_distinct_values(admin_client):
    """Filters and the date drill-down must not run SELECT DISTINCT over every item."""
    make_item("failed")
    for params in ({}, {"created_at__year": timezone.now().year}):
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(ITEMS_URL, params)
        assert not [
            q["sql"] for q in queries if "DISTINCT" in q["sql"] and "task_queue" in q["sql"]
        ]


def test_date_drill_down_offers_every_day_between_the_first_and_last_item(admin_client):
    first = timezone.make_aware(datetime(2026, 3, 3, 12))
    for day in (3, 6):
        make_item("success", created_at=first.replace(day=day))
    hierarchy = admin_client.get(ITEMS_URL).context["cl"].range_date_hierarchy
    assert hierarchy["back"]["title"] == "2026"
    assert [c["title"] for c in hierarchy["choices"]] == [f"March {d}" for d in (3, 4, 5, 6)]
    day_link = hierarchy["choices"][3]["link"]
    assert "created_at__day=6" in day_link
    response = admin_client.get(ITEMS_URL + day_link)
    assert [i.created_at.day for i in response.context["cl"].result_list] == [6]
    make_item("success", created_at=first.replace(year=2024))
    years = admin_client.get(ITEMS_URL).context["cl"].range_date_hierarchy["choices"]
    assert [c["title"] for c in years] == ["2024", "2025", "2026"]
    months = admin_client.get(ITEMS_URL, {"created_at__year": 2026}).context["cl"]
    assert [c["title"] for c in months.range_date_hierarchy["choices"]] == ["March 2026"]


def test_date_drill_down_spans_every_item_whichever_column_the_list_is_sorted_by(admin_client):
    march = timezone.make_aware(datetime(2026, 3, 3, 12))
    for day, priority in ((3, 5), (4, 0), (6, 9)):
        make_item("success", created_at=march.replace(day=day), priority=priority)
    by_priority = admin_client.get(ITEMS_URL, {"o": "6"}).context["cl"]  # the priority column
    assert [item.priority for item in by_priority.result_list] == [0, 5, 9]
    days = [c["title"] for c in by_priority.range_date_hierarchy["choices"]]
    assert days == [f"March {d}" for d in (3, 4, 5, 6)]


def test_within_a_drill_down_period_the_list_is_newest_created_first(admin_client):
    """There the list is ordered by ``created_at`` (which PostgreSQL reads from its index for
    the period), not by id: an item created later shows first even with the lower id."""
    day = timezone.make_aware(datetime(2026, 3, 3, 12))
    later, earlier = make_item("success", created_at=day), make_item("success", created_at=day)
    QueueItem.objects.filter(pk=earlier.pk).update(created_at=day - timedelta(hours=1))
    period = {"created_at__year": 2026, "created_at__month": 3, "created_at__day": 3}
    listed = admin_client.get(ITEMS_URL, period).context["cl"].result_list
    assert [item.pk for item in listed] == [later.pk, earlier.pk]
    everything = admin_client.get(ITEMS_URL).context["cl"].result_list
    assert [item.pk for item in everything] == [earlier.pk, later.pk]


def test_paginator_counts_from_estimates_on_large_postgresql_tables():
    for _ in range(5):
        enqueue_by_alias("Record")
    queryset = QueueItem.all_objects.all()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE task_queue")
    large = type("Tiny", (EstimatedCountPaginator,), {"exact_count_limit": 0})

    with CaptureQueriesContext(connection) as queries:
        unfiltered = large(queryset, 2).count
        filtered = large(queryset.filter(status="queued"), 2).count
    counted = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    if connection.vendor == "postgresql":
        assert counted == []  # reltuples and EXPLAIN only, no COUNT over the table
        assert unfiltered == 5  # ANALYZE saw every row
        assert filtered >= 1
    else:
        assert len(counted) == 2
        assert unfiltered == filtered == 5
    # Below the limit the count is exact on every database.
    assert EstimatedCountPaginator(queryset.filter(status="failed"), 2).count == 0


# --------------------------------------------------------------------------- actions


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        ("cancel", "queued", "canceled"),
        ("cancel", "paused", "canceled"),
        ("requeue", "failed", "queued"),
        ("requeue", "success", "queued"),
        ("run_now", "paused", "queued"),
        ("pause", "queued", "paused"),
        ("resume", "paused", "queued"),
    ],
)
def test_status_actions_change_items_and_report(admin_client, action, before, after):
    item = make_item(before)
    response = post_action(admin_client, action, item)
    assert status_of(item) == after
    assert f"{action.replace('_', ' ')}: 1 item(s) changed" in messages_of(response)


def test_run_now_moves_a_delayed_item_to_the_front(admin_client):
    item = enqueue_by_alias("Record", delay=3600)
    post_action(admin_client, "run_now", item)
    item.refresh_from_db()
    assert item.run_at <= timezone.now()


def test_cancel_of_a_running_item_asks_the_runner_to_stop(admin_client):
    item = make_item("running")
    post_action(admin_client, "cancel", item)
    item.refresh_from_db()
    assert (item.status, item.cancel_requested) == ("running", True)
    html = admin_client.get(ITEMS_URL).content.decode()
    assert "Canceling" in html


def test_soft_delete_and_restore_actions(admin_client):
    item = make_item("failed")
    post_action(admin_client, "soft_delete", item)
    assert QueueItem.all_objects.get(pk=item.pk).deleted_at is not None
    assert not QueueItem.objects.filter(pk=item.pk).exists()
    post_action(admin_client, "restore", item, url=f"{ITEMS_URL}?deleted=only")
    assert QueueItem.objects.filter(pk=item.pk).exists()


def test_actions_report_what_they_skipped_and_why(admin_client):
    queued, finished = make_item("queued"), make_item("success")
    response = post_action(admin_client, "cancel", queued, finished)
    (message,) = messages_of(response)
    assert "1 item(s) changed, 1 skipped" in message
    assert f"#{finished.pk}: Cannot cancel item #{finished.pk}: it is success." in message
    assert status_of(finished) == "success"


def test_hard_delete_is_never_offered(admin_client):
    item = make_item("failed")
    actions = admin_client.get(ITEMS_URL).context["action_form"].fields["action"].choices
    assert "delete_selected" not in dict(actions)
    delete_url = reverse("admin:django_taskqueue_queueitem_delete", args=[item.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert QueueItem.all_objects.filter(pk=item.pk).exists()


# --------------------------------------------------------------------------- permissions


def offered_actions(client: Client) -> set[str]:
    response = client.get(ITEMS_URL)
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is allowed at all
    return {name for name, _label in form.fields["action"].choices} - {""} if form else set()


ACTION_STARTS = {
    "cancel": "queued",
    "requeue": "failed",
    "run_now": "paused",
    "pause": "queued",
    "resume": "paused",
    "soft_delete": "failed",
    "restore": "failed",
}
OPERATOR_PERMISSIONS = {
    "cancel_queueitem",
    "requeue_queueitem",
    "pause_queueitem",
    "delete_queueitem",
}


def test_a_viewer_sees_items_but_is_offered_no_actions():
    viewer = staff_client("view_queueitem")
    assert offered_actions(viewer) == set()
    item = make_item("queued")
    before = QueueItem.all_objects.values().get(pk=item.pk)
    assert post_action(viewer, "cancel", item).status_code == 200
    assert QueueItem.all_objects.values().get(pk=item.pk) == before


@pytest.mark.parametrize("action", sorted(ACTION_STARTS))
def test_a_forged_action_without_its_permission_changes_nothing(action):
    """A user holding every other operator permission posts the one action they lack."""
    lacking = REQUIRED_PERMISSION[action].split(".")[1]
    operator = staff_client("view_queueitem", *(OPERATOR_PERMISSIONS - {lacking}))
    item = make_item(ACTION_STARTS[action])
    if action == "restore":
        item.soft_delete()
    before = QueueItem.all_objects.values().get(pk=item.pk)
    response = post_action(operator, action, item, url=f"{ITEMS_URL}?deleted=all")
    assert response.status_code == 200
    assert "No action selected." in messages_of(response)
    assert QueueItem.all_objects.values().get(pk=item.pk) == before


def test_each_permission_unlocks_exactly_its_actions():
    canceler = staff_client("view_queueitem", "cancel_queueitem")
    assert offered_actions(canceler) == {"cancel"}
    assert offered_actions(staff_client("view_queueitem", "requeue_queueitem")) == {
        "requeue",
        "run_now",
    }
    assert offered_actions(staff_client("view_queueitem", "pause_queueitem")) == {
        "pause",
        "resume",
    }
    assert offered_actions(staff_client("view_queueitem", "delete_queueitem")) == {
        "soft_delete",
        "restore",
    }
    failed = make_item("failed")
    post_action(canceler, "requeue", failed)
    assert status_of(failed) == "failed"
    queued = make_item("queued")
    post_action(canceler, "cancel", queued)
    assert status_of(queued) == "canceled"


def test_staff_without_view_permission_gets_403():
    assert staff_client().get(ITEMS_URL).status_code == 403


# --------------------------------------------------------------------------- detail page


def test_detail_page_shows_data_log_traceback_runner_and_attempts(admin_client):
    runner = Runner.objects.create(id="r-7", hostname="worker-7", pid=42, queues=[], concurrency=2)
    item = make_item(
        "failed",
        output={"rows": [1, 2]},
        details="line 0\nline 1",
        last_error='Traceback (most recent call last):\n  File "x.py"\nValueError: <boom>',
        runner=runner,
    )
    QueueItemAttempt.objects.create(
        item=item, number=1, runner_name="worker-7:42", outcome="failed", error="ValueError: first"
    )
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    html = admin_client.get(url).content.decode()
    assert '<pre class="tq-pre">{\n  &quot;value&quot;: &quot;sample&quot;\n}</pre>' in html
    assert "&quot;rows&quot;: [\n    1," in html
    assert '<pre class="tq-pre">line 0\nline 1</pre>' in html
    assert "ValueError: &lt;boom&gt;</pre>" in html  # escaped, in a traceback block
    assert "tq-traceback" in html
    assert "worker-7:42" in html and "ValueError: first" in html  # attempt history
    assert reverse("admin:django_taskqueue_runner_change", args=["r-7"]) in html


def test_detail_page_shows_timestamps_to_the_second(admin_client):
    created = timezone.make_aware(datetime(2026, 3, 3, 12, 34, 56))
    item = make_item(
        "success",
        created_at=created,
        run_at=created + timedelta(seconds=1),
        completed_at=created + timedelta(seconds=7),
    )
    QueueItemAttempt.objects.create(
        item=item, number=1, outcome="success", started_at=created, finished_at=created
    )
    html = admin_client.get(reverse("admin:django_taskqueue_queueitem_change", args=[item.pk]))
    text = html.content.decode()
    assert '<time datetime="2026-03-03T12:34:56' in text and ">2026-03-03 12:34:56</time>" in text
    assert ">2026-03-03 12:35:03</time>" in text  # completed
    run_at = re.search(r'class="form-row field-run_at_exact">.*?</time>', text, re.S)[0]
    assert run_at.endswith(">2026-03-03 12:34:57</time>")  # read-only now, to the second
    assert "<td>2026-03-03 12:34:56</td>" in text  # the attempt's start and finish


def test_a_running_items_attempt_history_shows_the_attempt_in_progress(admin_client):
    runner = Runner.objects.create(id="r-7", hostname="worker-7", pid=42, queues=[], concurrency=2)
    started = timezone.now() - timedelta(seconds=30)
    item = make_item("running", runner=runner, attempts=2, started_at=started)
    QueueItemAttempt.objects.create(item=item, number=1, outcome="retry", runner_name="worker-7:42")
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    html = admin_client.get(url).content.decode()
    assert "Not run yet" not in html
    running = re.search(r'<tr class="tq-attempt tq-attempt-running">(.*?)</tr>', html, re.S)[1]
    assert "<td>2</td>" in running and "Running" in running and "worker-7:42" in running
    assert timezone.localtime(started).strftime("%Y-%m-%d %H:%M:%S") in running
    assert "running for 30 s" in running
    fresh = make_item("queued")
    fresh_html = admin_client.get(
        reverse("admin:django_taskqueue_queueitem_change", args=[fresh.pk])
    )
    assert "Not run yet." in fresh_html.content.decode()


def test_cut_with_title_keeps_whole_words_and_the_full_text_on_hover():
    assert cut_with_title("short  text\nhere", 60) == "short text here"
    long = "HTTPError: HTTP Error 503: Service Unavailable while calling the orders webhook"
    assert cut_with_title(long, 40) == (
        f'<span title="{long}">HTTPError: HTTP Error 503: Service…</span>'
    )
    url = "https://hooks.example.com/" + "x" * 80
    assert cut_with_title(url, 30) == f'<span title="{url}">{url[:30]}…</span>'
    assert cut_with_title("", 10) == "—"


def test_the_error_column_shows_the_last_error_cut_at_a_word(admin_client):
    make_item(
        "failed",
        last_error_class="urllib.error.HTTPError",
        last_error_message="HTTP Error 503: Service Unavailable from hooks.example.com "
        "for order 512",
    )
    make_item("failed", last_error="Traceback (most recent call last):\nValueError: bad input")
    html = admin_client.get(ITEMS_URL).content.decode()
    cells = re.findall(r'<td class="field-error_column">(.*?)</td>', html)
    assert cells == [
        "ValueError: bad input",
        '<span title="HTTPError: HTTP Error 503: Service Unavailable from hooks.example.com for '
        'order 512">HTTPError: HTTP Error 503: Service Unavailable from…</span>',
    ]


def item_url(item: QueueItem) -> str:
    return reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])


def act_url(item: QueueItem) -> str:
    return reverse("admin:django_taskqueue_queueitem_act", args=[item.pk])


def buttons_on(client: Client, item: QueueItem) -> set[str]:
    html = client.get(item_url(item)).content.decode()
    return set(re.findall(r'<button type="submit" name="action" value="(\w+)"', html))


@pytest.mark.parametrize(
    ("status", "deleted", "expected"),
    [
        ("queued", False, {"run_now", "pause", "cancel", "soft_delete"}),
        ("paused", False, {"run_now", "resume", "cancel", "soft_delete"}),
        ("running", False, {"cancel"}),
        ("failed", False, {"requeue", "soft_delete"}),
        ("success", True, {"requeue", "restore"}),
    ],
)
def test_item_page_offers_the_buttons_that_apply_to_its_status(
    admin_client, status, deleted, expected
):
    item = make_item(status, deleted_at=timezone.now() if deleted else None)
    assert buttons_on(admin_client, item) == expected


def test_item_page_offers_only_the_buttons_the_user_may_use():
    queued = make_item("queued")
    assert buttons_on(staff_client("view_queueitem"), queued) == set()
    assert buttons_on(staff_client("view_queueitem", "cancel_queueitem"), queued) == {"cancel"}
    assert buttons_on(staff_client("view_queueitem", "requeue_queueitem"), queued) == {"run_now"}
    deleter = staff_client("view_queueitem", "delete_queueitem")
    assert buttons_on(deleter, queued) == {"soft_delete"}


@pytest.mark.parametrize(
    ("action", "before", "check"),
    [
        ("requeue", "failed", lambda item: item.status == "queued" and item.attempts == 0),
        ("run_now", "paused", lambda item: item.status == "queued"),
        ("pause", "queued", lambda item: item.status == "paused"),
        ("resume", "paused", lambda item: item.status == "queued"),
        ("cancel", "queued", lambda item: item.status == "canceled"),
        ("cancel", "running", lambda item: item.cancel_requested),
        ("soft_delete", "failed", lambda item: item.deleted_at is not None),
        ("restore", "failed", lambda item: item.deleted_at is None),
    ],
)
def test_an_item_button_applies_its_action_and_shows_in_history(
    admin_client, action, before, check
):
    item = make_item(before, deleted_at=timezone.now() if action == "restore" else None)
    response = admin_client.post(act_url(item), {"action": action}, follow=True)
    assert response.redirect_chain == [(item_url(item), 302)]
    item.refresh_from_db()
    assert check(item)
    described = DESCRIPTION[action]
    assert messages_of(response) == [f"Item #{item.pk}: {described}."]
    history = reverse("admin:django_taskqueue_queueitem_history", args=[item.pk])
    assert f"{described} (via admin)" in admin_client.get(history).content.decode()


def test_an_item_button_that_no_longer_applies_says_why(admin_client):
    item = make_item("queued")
    before = QueueItem.all_objects.values().get(pk=item.pk)
    response = admin_client.post(act_url(item), {"action": "requeue"}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [f"Cannot requeue item #{item.pk}: it is queued."]
    assert QueueItem.all_objects.values().get(pk=item.pk) == before
    response = admin_client.post(act_url(item), {"action": "explode"}, follow=True)
    assert messages_of(response) == ["Unknown action."]


def test_item_buttons_are_post_only_permission_and_csrf_checked(admin_user):
    item = make_item("queued")
    before = QueueItem.all_objects.values().get(pk=item.pk)
    viewer = staff_client("view_queueitem", "pause_queueitem")
    assert viewer.get(act_url(item), {"action": "cancel"}).status_code == 405
    assert viewer.post(act_url(item), {"action": "cancel"}).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(act_url(item), {"action": "cancel"}).status_code == 403
    assert QueueItem.all_objects.values().get(pk=item.pk) == before
    missing = reverse("admin:django_taskqueue_queueitem_act", args=[item.pk + 1000])
    assert viewer.post(missing, {"action": "pause"}).status_code == 404
    assert staff_client().post(act_url(item), {"action": "cancel"}).status_code == 403


def change_form_data(item: QueueItem, **values: object) -> dict[str, object]:
    data = {
        "queue_name": item.queue_name,
        "priority": item.priority,
        "run_at_0": item.run_at.strftime("%Y-%m-%d"),
        "run_at_1": item.run_at.strftime("%H:%M:%S"),
    }
    return {**data, **values}


def test_operators_may_reschedule_a_waiting_item(admin_client):
    item = make_item("paused")
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    form = admin_client.get(url).context["adminform"].form
    assert set(form.fields) == {"queue_name", "priority", "run_at"}
    response = admin_client.post(url, change_form_data(item, priority=9, queue_name="urgent"))
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.priority, item.queue_name, item.status) == (9, "urgent", "paused")


def test_a_finished_item_is_entirely_read_only(admin_client):
    item = make_item("success")
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    response = admin_client.get(url)
    assert set(response.context["adminform"].form.fields) == set()
    assert 'name="_save"' not in response.content.decode()
    admin_client.post(url, change_form_data(item, priority=9, parameters='{"value": "forged"}'))
    item.refresh_from_db()
    assert (item.priority, item.parameters) == (0, {"value": "sample"})


def test_a_stale_edit_form_loses_to_a_runner_that_claimed_the_item(admin_client):
    item = make_item("queued")
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    admin_client.get(url)
    QueueItem.all_objects.filter(pk=item.pk).update(status="running")  # the runner wins
    response = admin_client.post(url, change_form_data(item, priority=9), follow=True)
    item.refresh_from_db()
    assert (item.status, item.priority) == ("running", 0)
    assert any("Not saved" in m and "running" in m for m in messages_of(response))


def test_an_edit_racing_a_claim_writes_nothing(rf, admin_user):
    """The claim lands between form validation and save: the conditional UPDATE misses."""
    item = make_item("queued")
    model_admin = admin.site._registry[QueueItem]
    request = rf.post("/", change_form_data(item, priority=9))
    request.user = admin_user
    form_class = model_admin.get_form(request, item, change=True)
    form = form_class(request.POST, instance=item)
    assert form.is_valid(), form.errors
    QueueItem.all_objects.filter(pk=item.pk).update(status="running")
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    item.refresh_from_db()
    assert (item.status, item.priority) == ("running", 0)


def test_items_are_not_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:django_taskqueue_queueitem_add")).status_code == 403


# --------------------------------------------------------------------------- definitions


def test_definition_list_counts_items_per_status_in_one_query(admin_client):
    make_item("queued")
    make_item("queued")
    make_item("running")
    make_item("failed")
    make_item("failed").soft_delete()  # deleted items are not counted
    make_item("queued", alias="Noop")

    with CaptureQueriesContext(connection) as few:
        response = admin_client.get(DEFINITIONS_URL)
    rows = {d.alias: d for d in response.context["cl"].result_list}
    record = rows["Record"]
    assert (record.queued_count, record.running_count, record.failed_count) == (2, 1, 1)
    failed_link = re.search(r'class="tq-failed" href="([^"]+)"', response.content.decode())[1]
    listed = admin_client.get(failed_link.replace("&amp;", "&")).context["cl"].result_list
    assert [(item.definition.alias, item.status) for item in listed] == [("Record", "failed")]
    assert (rows["Noop"].queued_count, rows["Noop"].failed_count) == (1, 0)
    for alias in ("AlwaysFails", "Sleeper", "Logs"):
        make_item("failed", alias=alias)
    with CaptureQueriesContext(connection) as more:
        admin_client.get(DEFINITIONS_URL)
    assert len(more) == len(few)


def test_activate_and_deactivate_actions(admin_client):
    definition = make_item().definition
    response = post_action(admin_client, "deactivate", definition, url=DEFINITIONS_URL)
    assert not TaskDefinition.objects.get(pk=definition.pk).is_active
    assert "1 definition(s) made inactive; 0 already were." in messages_of(response)
    post_action(admin_client, "activate", definition, url=DEFINITIONS_URL)
    assert TaskDefinition.objects.get(pk=definition.pk).is_active


def enqueue_url(alias: str = "Record") -> str:
    definition = TaskDefinition.objects.for_alias(alias)
    return reverse("admin:django_taskqueue_taskdefinition_enqueue", args=[definition.pk])


def test_enqueue_form_enqueues_through_the_real_enqueue(admin_client):
    url = enqueue_url()
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "parameters": '{"value": 5}',
            "queue_name": "manual",
            "priority": "3",
            "delay_seconds": "",
        },
    )
    item = QueueItem.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:django_taskqueue_queueitem_change", args=[item.pk]
    )
    assert (item.parameters, item.queue_name, item.priority) == ({"value": 5}, "manual", 3)


def test_enqueue_form_with_a_delay_schedules_later(admin_client):
    admin_client.post(enqueue_url(), {"parameters": "", "delay_seconds": "600"})
    item = QueueItem.objects.get()
    assert item.parameters == {}
    assert item.run_at > timezone.now() + timedelta(seconds=500)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"parameters": "{not json"}, "The parameters are not valid JSON"),
        ({"parameters": "[1, 2]"}, "Parameters must be a JSON object"),
        ({"parameters": "{}", "queue_name": "no spaces"}, "Invalid queue name"),
        ({"parameters": "{}", "priority": str(2**40)}, "out of range"),
    ],
)
def test_enqueue_form_shows_errors_and_writes_nothing(admin_client, data, error):
    response = admin_client.post(enqueue_url(), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not QueueItem.all_objects.exists()


def test_enqueue_of_an_inactive_definition_is_refused(admin_client):
    url = enqueue_url()
    TaskDefinition.objects.filter(alias="Record").update(is_active=False)
    response = admin_client.post(url, {"parameters": "{}"})
    assert "is inactive" in response.content.decode()
    assert not QueueItem.all_objects.exists()


def test_enqueue_needs_its_permission():
    url = enqueue_url()
    viewer = staff_client("view_taskdefinition", "change_taskdefinition")
    assert url not in viewer.get(DEFINITIONS_URL).content.decode()
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"parameters": "{}"}).status_code == 403
    assert not QueueItem.all_objects.exists()
    allowed = staff_client("view_taskdefinition", "enqueue_taskdefinition")
    assert url in allowed.get(DEFINITIONS_URL).content.decode()
    assert allowed.post(url, {"parameters": "{}"}).status_code == 302
    assert QueueItem.objects.count() == 1


# --------------------------------------------------------------------------- dashboard


def test_recent_throughput_counts_successes_by_attempt_and_the_rest_by_item():
    """Successes come from the attempt log (read in order on a big table); so one soft-deleted
    since still counts at its minute. Failed and canceled items (one that never ran) come
    from the items."""
    now = timezone.now()
    make_item("success", completed_at=now).soft_delete()
    make_item("failed", completed_at=now)
    enqueue_by_alias("Record").cancel()
    make_item("success", completed_at=now - timedelta(hours=1))  # before the window
    rows = get_store().finished_per_minute(now - timedelta(minutes=5))
    assert sorted((queue, status, n) for queue, _, status, n in rows) == [
        ("tests", "canceled", 1),
        ("tests", "failed", 1),
        ("tests", "success", 1),
    ]


def test_dashboard_shows_queues_chart_and_live_runners(admin_client):
    now = timezone.now()
    make_item("queued", run_at=now - timedelta(minutes=3))
    make_item("success", completed_at=now)
    make_item("failed", completed_at=now)
    make_item("failed", completed_at=now)
    set_queue_paused("idle", True)
    Runner.objects.create(id="live", hostname="worker-1", pid=101, queues=["tests"], concurrency=4)
    Runner.objects.create(
        id="gone", hostname="worker-2", pid=102, queues=["tests"], concurrency=4, stopped_at=now
    )
    response = admin_client.get(DASHBOARD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    queues = {row.overview.name: row for row in response.context["queues"]}
    assert set(queues) == {"idle", "tests"}
    assert queues["idle"].overview.paused
    tests = queues["tests"]
    assert (tests.overview.failed_last_hour, tests.overview.completed_last_window) == (2, 3)
    assert tests.oldest_queued_age.startswith("3 min")
    failed_link = next(url for status, _, _, url in tests.status_links if status == "failed")
    assert html.count(f'href="{failed_link.replace("&", "&amp;")}"') == 1
    listed = admin_client.get(failed_link).context["cl"].result_list
    assert [item.status for item in listed] == ["failed", "failed"]
    minute = timezone.localtime(now).strftime("%H:%M")
    assert "<svg" in html and f"{minute}: 3 finished, 2 failed" in html
    assert "worker-1" in html and "worker-2" not in html
    assert 'name="paused" value="0"' in html  # resume button for the paused queue


def test_dashboard_is_linked_from_the_app_index(admin_client):
    html = admin_client.get(reverse("admin:app_list", args=["django_taskqueue"])).content.decode()
    assert f'href="{DASHBOARD_URL}"' in html


def test_pausing_and_resuming_a_queue(admin_client):
    response = admin_client.post(SET_PAUSED_URL, {"queue": "emails", "paused": "1"})
    assert response.status_code == 302
    assert QueueState.objects.get(name="emails").is_paused
    admin_client.post(SET_PAUSED_URL, {"queue": "emails", "paused": "0"})
    assert not QueueState.objects.get(name="emails").is_paused


def test_queue_switch_is_post_only_permission_checked_and_validated(admin_client):
    assert admin_client.get(SET_PAUSED_URL, {"queue": "emails", "paused": "1"}).status_code == 405
    viewer = staff_client("view_queuestate")
    assert viewer.get(DASHBOARD_URL).status_code == 200
    assert "tq-inline-form" not in viewer.get(DASHBOARD_URL).content.decode()
    assert viewer.post(SET_PAUSED_URL, {"queue": "emails", "paused": "1"}).status_code == 403
    response = admin_client.post(SET_PAUSED_URL, {"queue": "bad name", "paused": "1"}, follow=True)
    assert any("Invalid queue name" in m for m in messages_of(response))
    assert not QueueState.objects.exists()


def test_queue_switch_requires_csrf():
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert client.post(SET_PAUSED_URL, {"queue": "emails", "paused": "1"}).status_code == 403
    assert not QueueState.objects.exists()


def test_dashboard_needs_a_permission():
    assert staff_client("view_queueitem").get(DASHBOARD_URL).status_code == 403


def test_minute_chart_stacks_failures_under_the_rest():
    first_minute = timezone.make_aware(datetime(2026, 3, 3, 14, 4))
    chart = minute_chart([0, 4, 2], [0, 1, 2], first_minute, width=30, height=41)
    empty, mixed, all_failed = chart.bars
    assert chart.peak == 4
    assert (empty.ok_height, empty.failed_height) == (0, 0)
    assert (mixed.failed_height, mixed.ok_height) == (10, 30)
    assert mixed.failed_y == 31 and mixed.ok_y == 1
    assert (all_failed.ok_height, all_failed.failed_height) == (0, 20)
    assert [bar.minute for bar in chart.bars] == ["14:04", "14:05", "14:06"]


def test_minute_chart_labels_its_time_axis_every_five_minutes():
    first_minute = timezone.make_aware(datetime(2026, 3, 3, 13, 58))
    chart = minute_chart([1] * 15, [0] * 15, first_minute, width=600, height=120, labelled=True)
    assert [tick.label for tick in chart.ticks] == ["14:00", "14:05", "14:10"]
    assert [tick.x for tick in chart.ticks] == [100, 300, 500]  # under bars 2, 7 and 12
    on_the_hour = timezone.make_aware(datetime(2026, 3, 3, 14, 0))
    edge = minute_chart([1] * 3, [0] * 3, on_the_hour, width=30, height=10, labelled=True)
    assert [(tick.label, tick.x) for tick in edge.ticks] == [("14:00", 15)]  # kept whole
    small = minute_chart([1] * 3, [0] * 3, on_the_hour, width=30, height=10)
    assert (small.ticks, small.full_height) == ([], 10)  # a queue's: times on hover only
    html = render_to_string("admin/django_taskqueue/queuestate/minute_chart.html", {"chart": chart})
    assert 'height="134"' in html  # the bars' 120 px and the axis labels under them
    assert '<text class="tq-axis-label" x="300.0" y="134" text-anchor="middle">14:05</text>' in html


def test_dashboard_oldest_waiting_counts_due_items_and_shows_the_next_scheduled(admin_client):
    now = timezone.now()
    make_item("queued", run_at=now - timedelta(minutes=3), created_at=now - timedelta(hours=5))
    make_item("queued", run_at=now + timedelta(minutes=42), created_at=now - timedelta(days=1))
    make_item("queued", run_at=now + timedelta(hours=3))
    make_item("paused", run_at=now - timedelta(hours=2))  # held: not waiting to run
    make_item("queued", alias="Noop", run_at=now - timedelta(hours=1)).soft_delete()
    response = admin_client.get(DASHBOARD_URL)
    (row,) = response.context["queues"]
    assert 180 <= row.overview.oldest_queued_age_seconds < 200
    assert row.oldest_queued_age.startswith("3 min")
    assert abs((row.overview.next_scheduled_at - now).total_seconds() - 42 * 60) < 1
    assert re.search(r">in 4[12] min \d+ s</time>", str(row.next_scheduled))
    html = response.content.decode()
    assert "Next scheduled" in html and str(row.next_scheduled) in html
    make_item("queued", queue_name="later", run_at=now + timedelta(seconds=90))
    rows = {r.overview.name: r for r in admin_client.get(DASHBOARD_URL).context["queues"]}
    assert rows["later"].oldest_queued_age == "—"  # nothing due yet
    assert re.search(r">in 1 min (29|30) s</time>", str(rows["later"].next_scheduled))


def test_dashboard_heartbeats_read_in_seconds(admin_client, settings):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "RUNNER_HEARTBEAT_SECONDS": 5}  # live for 15 s
    Runner.objects.create(
        id="live",
        hostname="worker-1",
        pid=101,
        queues=["emails", "reports"],
        concurrency=4,
        heartbeat_at=timezone.now() - timedelta(seconds=3),
    )
    html = admin_client.get(DASHBOARD_URL).content.decode()
    heartbeat = re.search(r'<td class="tq-heartbeat">(.*?)</td>', html)[1]
    assert re.fullmatch(r'<time datetime="[^"]+" title="[^"]+">[34] s ago</time>', heartbeat)
    assert "<td>emails, reports</td>" in html


def test_dashboard_page_refreshes_itself_from_the_live_fragment(admin_client):
    live_url = reverse("admin:django_taskqueue_queuestate_live")
    html = admin_client.get(DASHBOARD_URL).content.decode()
    assert "django_taskqueue/dashboard.js" in html
    assert f'<div id="tq-live" data-url="{live_url}" data-refresh-seconds="5">' in html
    assert 'id="tq-refresh-toggle"' in html and "Pause updates" in html
    assert "onclick" not in html.split('id="content-main"')[1]
    make_item("queued")
    fragment = admin_client.get(live_url)
    assert fragment.status_code == 200 and "no-store" in fragment["Cache-Control"]
    body = fragment.content.decode()
    assert "<html" not in body and 'id="tq-live"' not in body
    assert 'data-queue="tests"' in body and "figures as of" in body
    assert re.search(r'data-status="queued">Queued <span class="tq-count">1</span>', body)


def test_the_live_fragment_is_for_staff_with_the_permission(client):
    live_url = reverse("admin:django_taskqueue_queuestate_live")
    assert client.get(live_url).status_code == 302  # to the login page
    assert staff_client("view_queueitem").get(live_url).status_code == 403
    assert staff_client("view_queuestate").get(live_url).status_code == 200


# --------------------------------------------------------------------------- runners


def test_runners_are_read_only(admin_client):
    Runner.objects.create(id="r1", hostname="worker-1", pid=1, queues=["a"], concurrency=1)
    listing = admin_client.get(reverse("admin:django_taskqueue_runner_changelist"))
    assert "worker-1" in listing.content.decode()
    change = admin_client.get(reverse("admin:django_taskqueue_runner_change", args=["r1"]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert admin_client.get(reverse("admin:django_taskqueue_runner_add")).status_code == 403


def test_runner_queues_read_as_text_and_heartbeats_in_seconds(admin_client):
    started = timezone.make_aware(datetime(2026, 3, 3, 9, 15, 42))
    Runner.objects.create(
        id="r1",
        hostname="worker-1",
        pid=1,
        queues=["emails", "reports"],
        concurrency=1,
        started_at=started,
        heartbeat_at=timezone.now() - timedelta(seconds=3),
    )
    listing = admin_client.get(reverse("admin:django_taskqueue_runner_changelist"))
    html = listing.content.decode()
    assert '<td class="field-queue_names">emails, reports</td>' in html
    assert "[&quot;emails&quot;" not in html and '["emails"' not in html
    assert re.search(r"<time [^>]*>[34] s ago</time>", html)
    detail = admin_client.get(reverse("admin:django_taskqueue_runner_change", args=["r1"]))
    page = detail.content.decode()
    assert "emails, reports" in page and "&quot;emails&quot;" not in page
    assert ">2026-03-03 09:15:42</time>" in page


def test_definition_page_shows_timestamps_to_the_second(admin_client):
    definition = make_item().definition
    created = timezone.make_aware(datetime(2026, 3, 3, 9, 15, 42))
    TaskDefinition.objects.filter(pk=definition.pk).update(created_at=created)
    url = reverse("admin:django_taskqueue_taskdefinition_change", args=[definition.pk])
    assert ">2026-03-03 09:15:42</time>" in admin_client.get(url).content.decode()
