"""How a schedule reads in the admin: the change list's columns and the page's read-only fields.

The methods of ``ScheduleAdmin`` that turn a schedule into text, kept apart from what the admin
lets an operator do (``schedules``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import QueueItem, Schedule
from .display import breakable, compact_time, cut_with_title, exact_time_field, text_block
from .item_columns import ERROR_COLUMN_CHARACTERS

UPCOMING_COUNT = 5
_TIME = "%Y-%m-%d %H:%M:%S"


def _cannot_work_out(exc: Exception) -> SafeString:
    """What a page shows for a row whose fire times cannot be worked out (a cron expression
    stored past the checks, croniter missing): the reason, instead of a 500. Callers catch
    any ``Exception``: cron-descriptor's errors derive from nothing narrower."""
    return format_html('<span class="tq-failed">{}: {}</span>', type(exc).__name__, exc)


def _upcoming_table(schedule: Schedule, times: list[datetime]) -> SafeString:
    zone = ZoneInfo(schedule.zone_name)
    rows = format_html_join(
        "",
        '<tr><td><time datetime="{}">{}</time></td><td>{}</td></tr>',
        (
            (time.isoformat(), time.astimezone(zone).strftime(f"{_TIME} %Z"), time.strftime(_TIME))
            for time in (t.astimezone(UTC) for t in times)
        ),
    )
    note = "" if schedule.enabled else _("Disabled: the times it would fire at if enabled now.")
    return format_html(
        '{}<table class="tq-upcoming"><thead><tr><th>{}</th><th>UTC</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        format_html('<p class="quiet">{}</p>', note) if note else "",
        schedule.zone_name,
        rows,
    )


class ScheduleColumnsMixin:
    next_fire_at_exact = exact_time_field(Schedule, "next_fire_at")
    last_fired_at_exact = exact_time_field(Schedule, "last_fired_at")
    created_at_exact = exact_time_field(Schedule, "created_at")
    updated_at_exact = exact_time_field(Schedule, "updated_at")

    @admin.display(description=_("task alias"), ordering="alias")
    def alias_column(self, schedule: Schedule) -> str:
        return breakable(schedule.alias)

    @admin.display(description=_("fires"))
    def description_column(self, schedule: Schedule) -> str:
        try:
            return schedule.description
        except Exception as exc:  # noqa: BLE001 - see _cannot_work_out
            return _cannot_work_out(exc)

    @admin.display(description=_("timezone"), ordering="timezone")
    def zone_column(self, schedule: Schedule) -> str:
        return breakable(schedule.zone_name)

    @admin.display(description=_("next fire"), ordering="next_fire_at")
    def next_fire_column(self, schedule: Schedule) -> str:
        return compact_time(schedule.next_fire_at)

    @admin.display(description=_("last fired"), ordering="last_fired_at")
    def last_fired_column(self, schedule: Schedule) -> str:
        return compact_time(schedule.last_fired_at)

    @admin.display(description=_("last error"))
    def last_error_column(self, schedule: Schedule) -> str:
        return cut_with_title(schedule.last_error, ERROR_COLUMN_CHARACTERS)

    @admin.display(description=_("fires"))
    def description_text(self, schedule: Schedule) -> str:
        return self.description_column(schedule)

    @admin.display(description=_("next fire times"))
    def upcoming_times(self, schedule: Schedule) -> str:
        try:
            times = schedule.upcoming(UPCOMING_COUNT)
        except Exception as exc:  # noqa: BLE001 - see _cannot_work_out
            return _cannot_work_out(exc)
        if not times:
            return str(_("None: the schedule has ended."))
        return _upcoming_table(schedule, times)

    @admin.display(description=_("items"))
    def items_link(self, schedule: Schedule) -> str:
        count = QueueItem.objects.filter(schedule=schedule).count()
        text = ngettext("%(count)d item fired", "%(count)d items fired", count) % {"count": count}
        if not count:
            return text
        url = reverse("admin:django_taskqueue_queueitem_changelist")
        return format_html('<a href="{}?schedule__id__exact={}">{}</a>', url, schedule.pk, text)

    @admin.display(description=_("last error"))
    def last_error_block(self, schedule: Schedule) -> str:
        return text_block(schedule.last_error, "tq-pre tq-traceback")


def item_link(item: QueueItem) -> SafeString:
    url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
    return format_html('<a href="{}">#{}</a>', url, item.pk)
