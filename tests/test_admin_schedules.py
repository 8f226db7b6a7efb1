"""The schedule admin through Django's test client: the add form and its field errors, the list,
the next fire times, "Fire now" and its permission, Enable / Disable, and the items a schedule
fired, as the item list and an item's page show them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Schedule, TaskDefinition
from django_taskqueue.schedules.firing import fire_now

from .test_admin import messages_of, post_action, staff_client

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULES_URL = reverse("admin:django_taskqueue_schedule_changelist")
ADD_URL = reverse("admin:django_taskqueue_schedule_add")
ITEMS_URL = reverse("admin:django_taskqueue_queueitem_changelist")
JAN_2031 = datetime(2031, 1, 1, tzinfo=UTC)


def make_schedule(name: str = "nightly", **fields: object) -> Schedule:
    fields.setdefault("alias", "Record")
    if "interval_seconds" not in fields:
        fields.setdefault("cron", "0 2 * * *")
    schedule = Schedule(name=name, **fields)
    schedule.full_clean()
    schedule.save()
    return schedule


def change_url(schedule: Schedule) -> str:
    return reverse("admin:django_taskqueue_schedule_change", args=[schedule.pk])


def fire_url(schedule: Schedule) -> str:
    return reverse("admin:django_taskqueue_schedule_fire", args=[schedule.pk])


def add_form(**changes: str) -> dict[str, str]:
    """What the add form posts for a valid nightly schedule, with ``changes``."""
    form = {
        "name": "nightly-report",
        "alias": "Record",
        "enabled": "on",
        "parameters": '{"value": "report"}',
        "queue_name": "",
        "priority": "",
        "cron": "0 2 * * *",
        "interval_seconds": "",
        "timezone": "Europe/Berlin",
        "start_at_0": "",
        "start_at_1": "",
        "end_at_0": "",
        "end_at_1": "",
        "misfire": "once",
        "max_catch_up": "100",
        "_save": "Save",
    }
    return form | changes


def offered_actions(client: Client) -> set[str]:
    """The actions the change list offers the client's user (no action form: none)."""
    action_form = client.get(SCHEDULES_URL).context["action_form"]
    return set() if action_form is None else set(dict(action_form.fields["action"].choices))


def history_of(schedule: Schedule) -> list[str]:
    entries = LogEntry.objects.filter(
        content_type__model="schedule", object_id=str(schedule.pk)
    ).order_by("id")
    return [entry.get_change_message() for entry in entries]


# --------------------------------------------------------------------------- the add form


@pytest.mark.parametrize(
    "changes, field, says",
    [
        ({"cron": "61 * * * *"}, "cron", "not a valid cron expression"),
        ({"cron": "0 2 * *"}, "cron", "has 4 field(s)"),
        ({"cron": "", "interval_seconds": ""}, "cron", "either cron or interval_seconds"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown timezone 'Mars/Olympus'"),
        ({"alias": "NoSuchTask"}, "alias", "NoSuchTask"),
        ({"parameters": "[1, 2]"}, "parameters", "JSON object"),
        ({"parameters": "{oops"}, "parameters", "not valid JSON"),
    ],
)
def test_a_bad_field_is_an_error_on_that_field_and_nothing_is_created(
    admin_client, changes, field, says
):
    response = admin_client.post(ADD_URL, add_form(**changes))
    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert says in " ".join(errors[field])
    assert says in response.content.decode().replace("&#x27;", "'")
    assert not Schedule.objects.exists()


def test_a_valid_add_form_creates_the_schedule_with_its_next_fire_time(admin_client):
    before = timezone.now()
    response = admin_client.post(ADD_URL, add_form())
    assert response.status_code == 302
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.alias, schedule.cron) == (
        "nightly-report",
        "Record",
        "0 2 * * *",
    )
    assert (schedule.timezone, schedule.parameters) == ("Europe/Berlin", {"value": "report"})
    assert schedule.next_fire_at is not None
    assert before < schedule.next_fire_at <= before + timedelta(days=1, hours=1)
    assert schedule.next_fire_at == schedule.upcoming(1, after=before)[0]


def test_the_add_form_offers_the_editable_fields_and_no_runner_state(admin_client):
    form = admin_client.get(ADD_URL).context["adminform"].form
    assert {"name", "cron", "interval_seconds", "timezone", "misfire"} <= set(form.fields)
    assert not {"next_fire_at", "last_fired_at", "last_error"} & set(form.fields)


def test_changing_the_cron_on_the_change_page_moves_the_next_fire_time(admin_client):
    schedule = make_schedule(timezone="UTC", start_at=JAN_2031)
    assert schedule.next_fire_at == JAN_2031 + timedelta(hours=2)
    form = add_form(
        name="nightly", cron="30 6 * * *", timezone="UTC", parameters="{}",
        start_at_0="2031-01-01", start_at_1="00:00:00",
    )  # fmt: skip
    response = admin_client.post(change_url(schedule), form)
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.next_fire_at == JAN_2031 + timedelta(hours=6, minutes=30)
    assert history_of(schedule) == ["Changed Cron."]


# --------------------------------------------------------------------------- list and page


def test_the_list_shows_the_timing_in_words_and_the_runner_state(admin_client):
    make_schedule("nightly", timezone="Europe/Berlin")
    every = make_schedule("every-minute", interval_seconds=60)
    Schedule.objects.filter(pk=every.pk).update(last_error="RuntimeError: " + "x " * 100)
    response = admin_client.get(SCHEDULES_URL)
    page = response.content.decode().replace("<wbr>", "")  # names may wrap after "/"
    assert [s.name for s in response.context["cl"].result_list] == ["every-minute", "nightly"]
    assert "At 02:00 every day" in page and "Every minute" in page
    assert "Europe/Berlin" in page and ">UTC<" in page  # blank: the project's TIME_ZONE
    assert "RuntimeError: x x" in page and "x " * 100 not in page  # shortened, whole on hover
    assert admin_client.get(SCHEDULES_URL, {"q": "every"}).context["cl"].result_count == 1
    listed = admin_client.get(SCHEDULES_URL, {"enabled__exact": "1", "misfire__exact": "once"})
    assert listed.context["cl"].result_count == 2


def test_the_change_page_lists_the_next_five_times_in_its_timezone_and_utc(admin_client):
    schedule = make_schedule(timezone="Europe/Berlin", start_at=JAN_2031)
    page = admin_client.get(change_url(schedule)).content.decode()
    upcoming = re.search(r'<table class="tq-upcoming">.*?</table>', page, re.S)[0]
    rows = re.findall(r"<tr><td>.*?</td><td>(.*?)</td></tr>", upcoming)
    assert rows == [f"2031-01-0{day} 01:00:00" for day in range(1, 6)]  # 02:00 CET is 01:00 UTC
    assert "<th>Europe/Berlin</th><th>UTC</th>" in upcoming
    for day in range(1, 6):
        assert f">2031-01-0{day} 02:00:00 CET</time>" in upcoming
    assert "At 02:00 every day" in page


def test_a_row_whose_times_cannot_be_worked_out_shows_why_instead_of_failing(admin_client):
    schedule = make_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(cron="not a cron")
    listed = admin_client.get(SCHEDULES_URL).content.decode()
    assert '<span class="tq-failed">FormatError: ' in listed
    page = admin_client.get(change_url(schedule)).content.decode()
    assert page.count('class="tq-failed"') == 2  # description and next fire times


def test_odd_urls_are_answered_without_a_500(admin_client):
    schedule = make_schedule()
    for params in ({"q": "night\x00"}, {"schedule__id__exact": "not-a-number"}):
        for url in (SCHEDULES_URL, ITEMS_URL):
            response = admin_client.get(url, params)
            assert response.status_code == 302 and response["Location"].endswith("?e=1")
    assert admin_client.post(fire_url(schedule).replace(str(schedule.pk), "999")).status_code == 404
    assert admin_client.post(f"{SCHEDULES_URL}x%00y/fire/").status_code == 404
    assert not QueueItem.objects.exists()


# --------------------------------------------------------------------------- Fire now


def test_fire_now_needs_the_fire_permission(admin_client):
    schedule = make_schedule()
    viewer = staff_client("view_schedule", "change_schedule")
    page = viewer.get(change_url(schedule))
    assert page.status_code == 200
    assert "Fire now" not in page.content.decode()
    assert offered_actions(viewer) == {"", "enable", "disable"}  # "" is the "---------"
    assert viewer.post(fire_url(schedule)).status_code == 403
    forged = post_action(viewer, "fire_now", schedule, url=SCHEDULES_URL)
    assert "No action selected." in messages_of(forged)
    assert not QueueItem.objects.exists()
    assert not LogEntry.objects.exists()


def test_fire_now_button_makes_one_item_of_the_schedule_and_links_it(admin_client):
    schedule = make_schedule(parameters={"value": "now"})
    firer = staff_client("view_schedule", "fire_schedule")
    page = firer.get(change_url(schedule)).content.decode()
    assert f'action="{fire_url(schedule)}"' in page and "Fire now" in page
    assert firer.get(fire_url(schedule)).status_code == 405  # a change: POST only

    response = firer.post(fire_url(schedule), follow=True)
    assert response.redirect_chain == [(change_url(schedule), 302)]
    item = QueueItem.objects.get()
    assert (item.schedule_id, item.parameters, item.status) == (
        schedule.pk,
        {"value": "now"},
        "queued",
    )
    assert item.scheduled_for is not None
    item_url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    assert messages_of(response) == [
        f'Fired “nightly” now: created item <a href="{item_url}">#{item.pk}</a>.'
    ]
    assert f'<a href="{item_url}">#{item.pk}</a>' in response.content.decode()
    assert history_of(schedule) == [f"Fired now: item #{item.pk} (via admin)"]
    schedule.refresh_from_db()
    assert schedule.last_fired_at == item.scheduled_for


def test_fire_now_action_fires_each_selected_schedule_once(admin_client):
    assert offered_actions(admin_client) == {"", "fire_now", "enable", "disable", "delete_selected"}
    nightly, hourly = make_schedule("nightly"), make_schedule("hourly", cron="0 * * * *")
    make_schedule("untouched")
    response = post_action(admin_client, "fire_now", nightly, hourly, url=SCHEDULES_URL)
    items = QueueItem.objects.order_by("schedule__name")
    assert [item.schedule.name for item in items] == ["hourly", "nightly"]
    (message,) = messages_of(response)
    assert message.startswith("Fired now: created item(s) ") and "(hourly)" in message
    assert len(history_of(nightly)) == len(history_of(hourly)) == 1


def test_fire_now_of_an_inactive_task_says_why_and_makes_nothing(admin_client):
    schedule = make_schedule()
    enqueue_by_alias("Record").delete()  # the definition row exists now
    TaskDefinition.objects.filter(alias="Record").update(is_active=False)
    response = admin_client.post(fire_url(schedule), follow=True)
    (message,) = messages_of(response)
    assert message.startswith("Could not fire “nightly”:") and "inactive" in message
    assert not QueueItem.objects.filter(schedule=schedule).exists()
    assert history_of(schedule) == []


# --------------------------------------------------------------------------- Enable / Disable


def test_disable_and_enable_save_each_row_so_the_next_fire_time_follows(admin_client):
    nightly = make_schedule("nightly")
    off = make_schedule("off", enabled=False)
    assert off.next_fire_at is None

    response = post_action(admin_client, "disable", nightly, off, url=SCHEDULES_URL)
    assert "1 schedule(s) disabled; 1 already were." in messages_of(response)
    nightly.refresh_from_db()
    assert (nightly.enabled, nightly.next_fire_at) == (False, None)
    assert history_of(nightly) == ["Disabled (via admin)"]

    before = timezone.now()
    response = post_action(admin_client, "enable", nightly, off, url=SCHEDULES_URL)
    assert "2 schedule(s) enabled; 0 already were." in messages_of(response)
    for schedule in (nightly, off):
        schedule.refresh_from_db()
        assert schedule.enabled and schedule.next_fire_at is not None
        assert before < schedule.next_fire_at == schedule.upcoming(1, after=before)[0]
    assert history_of(nightly) == ["Disabled (via admin)", "Enabled (via admin)"]
    assert history_of(off) == ["Enabled (via admin)"]


def test_enable_and_disable_need_the_change_permission():
    schedule = make_schedule()
    viewer = staff_client("view_schedule")
    assert offered_actions(viewer) == set()
    forged = post_action(viewer, "disable", schedule, url=SCHEDULES_URL)
    assert forged.status_code == 200 and not history_of(schedule)
    assert Schedule.objects.get(pk=schedule.pk).enabled


# --------------------------------------------------------------------------- the items fired


def test_the_items_link_lists_only_this_schedules_items(admin_client):
    nightly, hourly = make_schedule("nightly"), make_schedule("hourly", cron="0 * * * *")
    mine = [fire_now(nightly, now=timezone.now() - timedelta(minutes=n)) for n in (1, 2)]
    fire_now(hourly)
    enqueue_by_alias("Record")  # made by no schedule
    page = admin_client.get(change_url(nightly)).content.decode()
    link = re.search(r'<a href="([^"]+)">2 items fired</a>', page)[1]
    assert link == f"{ITEMS_URL}?schedule__id__exact={nightly.pk}"
    listed = admin_client.get(link).context["cl"].result_list
    assert sorted(item.pk for item in listed) == sorted(item.pk for item in mine)
    assert "0 items fired" in admin_client.get(change_url(make_schedule("new"))).content.decode()


def test_the_item_list_filters_by_schedule_without_counting_items_per_schedule(admin_client):
    nightly = make_schedule("nightly")
    fire_now(nightly)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(ITEMS_URL)
    changelist = response.context["cl"]
    by_schedule = next(spec for spec in changelist.filter_specs if spec.title == "schedule")
    offered = [choice["display"] for choice in by_schedule.choices(changelist)]
    assert offered[:2] == ["All", "nightly"]
    counts = [q["sql"] for q in queries if "COUNT" in q["sql"].upper() and "schedule" in q["sql"]]
    assert counts == []


def test_an_items_page_shows_the_schedule_and_fire_time_when_it_has_one(admin_client):
    item = fire_now(make_schedule("nightly"), now=datetime(2031, 1, 1, 2, tzinfo=UTC))
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    page = admin_client.get(url).content.decode()
    shown = dict(re.findall(r'field-(\w+).*?<div class="readonly">(.*?)</div>', page, re.S))
    assert shown["schedule_link"] == f'<a href="{change_url(item.schedule)}">nightly</a>'
    assert shown["scheduled_for_exact"] == (
        '<time datetime="2031-01-01T02:00:00+00:00">2031-01-01 02:00:00</time>'
    )
    plain = enqueue_by_alias("Record")
    other = admin_client.get(reverse("admin:django_taskqueue_queueitem_change", args=[plain.pk]))
    assert "field-schedule_link" not in other.content.decode()
    assert "field-scheduled_for_exact" not in other.content.decode()
