"""How a queue item reads in the admin: the change list's columns and the detail page's fields.

The methods of ``QueueItemAdmin`` that turn an item into text, kept apart from what the admin
lets an operator do (``items``, ``item_actions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..models import QueueItem
from ..store import get_store
from .display import (
    breakable,
    compact_time,
    cut_with_title,
    exact_time_field,
    pretty_json,
    short_duration,
    status_badge,
    text_block,
)

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

# The error column shows this much of the last error; the whole is on hover and on the page.
ERROR_COLUMN_CHARACTERS = 60


class ItemColumnsMixin:
    @admin.display(description=_("definition"), ordering="definition__alias")
    def alias(self, item: QueueItem) -> str:
        return breakable(item.definition.alias)

    @admin.display(description=_("queue"), ordering="queue_name")
    def queue_column(self, item: QueueItem) -> str:
        """The queue, and under it the tenant when the item has one: one column, so the
        list still fits a laptop's screen."""
        if not item.tenant:
            return breakable(item.queue_name)
        return format_html(
            '{}<br><span class="tq-tenant" title="{}">{}</span>',
            breakable(item.queue_name),
            _("tenant"),
            breakable(item.tenant),
        )

    @admin.display(description=_("status"), ordering="status")
    def colored_status(self, item: QueueItem) -> str:
        label: str | _StrPromise = item.get_status_display()
        if item.cancel_requested and item.status == QueueItem.Status.RUNNING:
            label = _("Canceling")
        if item.deleted_at is not None:
            label = f"{label} · {_('deleted')}"
        return status_badge(item.status, label)

    @admin.display(description=_("run at"), ordering="run_at")
    def run_at_column(self, item: QueueItem) -> str:
        return compact_time(item.run_at)

    @admin.display(description=_("started (duration)"), ordering="started_at")
    def started_column(self, item: QueueItem) -> str:
        """The start and how long the run took (or runs): one column, wrapping when narrow,
        so the list fits a laptop screen. The creation order is the id's."""
        if item.started_at is None:
            return "—"
        return format_html(
            '{} <span class="tq-duration">{}</span>',
            compact_time(item.started_at),
            self.duration_display(item),
        )

    run_at_exact = exact_time_field(QueueItem, "run_at")
    created_at_exact = exact_time_field(QueueItem, "created_at")
    started_at_exact = exact_time_field(QueueItem, "started_at")
    completed_at_exact = exact_time_field(QueueItem, "completed_at")
    updated_at_exact = exact_time_field(QueueItem, "updated_at")
    deleted_at_exact = exact_time_field(QueueItem, "deleted_at")
    scheduled_for_exact = exact_time_field(QueueItem, "scheduled_for")

    @admin.display(description=_("waiting because"))
    def waiting_reason(self, item: QueueItem) -> str:
        """Why a waiting or queued item is not running yet; nothing once it is next in line."""
        if item.status not in (QueueItem.Status.WAITING, QueueItem.Status.QUEUED):
            return "–"
        return get_store().waiting_reasons([item]).get(item.pk) or str(_("next in line"))

    @admin.display(description=_("attempts"))
    def attempts_display(self, item: QueueItem) -> str:
        return f"{item.attempts} / {item.max_attempts}"

    @admin.display(description=_("duration"))
    def duration_display(self, item: QueueItem) -> str:
        if item.duration is None and item.started_at and item.status == QueueItem.Status.RUNNING:
            return f"{short_duration(timezone.now() - item.started_at)} …"
        return short_duration(item.duration)

    @admin.display(description=_("error"))
    def error_column(self, item: QueueItem) -> str:
        if item.last_error_class:
            kind = item.last_error_class.rsplit(".", 1)[-1]
            summary = f"{kind}: {item.last_error_message}" if item.last_error_message else kind
        else:  # only a traceback: its last line names the exception
            summary = item.last_error.strip().rsplit("\n", 1)[-1]
        return cut_with_title(summary, ERROR_COLUMN_CHARACTERS)

    @admin.display(description=_("definition"))
    def definition_link(self, item: QueueItem) -> str:
        url = reverse("admin:django_taskqueue_taskdefinition_change", args=[item.definition_id])
        return format_html('<a href="{}">{}</a>', url, item.definition.alias)

    @admin.display(description=_("fired by schedule"))
    def schedule_link(self, item: QueueItem) -> str:
        if item.schedule_id is None:
            return "—"
        url = reverse("admin:django_taskqueue_schedule_change", args=[item.schedule_id])
        return format_html('<a href="{}">{}</a>', url, item.schedule)

    @admin.display(description=_("held by runner"))
    def runner_link(self, item: QueueItem) -> str:
        if item.runner_id is None:
            return "—"
        url = reverse("admin:django_taskqueue_runner_change", args=[item.runner_id])
        return format_html('<a href="{}">{}</a>', url, item.runner)

    @admin.display(description=_("parameters"))
    def parameters_json(self, item: QueueItem) -> str:
        return pretty_json(item.parameters)

    @admin.display(description=_("output"))
    def output_json(self, item: QueueItem) -> str:
        return pretty_json(item.output)

    @admin.display(description=_("details"))
    def details_block(self, item: QueueItem) -> str:
        return text_block(item.details)

    @admin.display(description=_("last error"))
    def last_error_block(self, item: QueueItem) -> str:
        return text_block(item.last_error, "tq-pre tq-traceback")

    @admin.display(description=_("attempt history"))
    def attempt_history(self, item: QueueItem) -> str:
        """Every run of the item, kept across retries and requeues (one query), and the one
        in progress, which has no attempt row until it ends."""
        running = item.status == QueueItem.Status.RUNNING
        return render_to_string(
            "admin/django_taskqueue/queueitem/attempt_history.html",
            {
                "attempts": item.attempt_log.order_by("finished_at", "id"),
                "running": item if running else None,
                "running_for": (
                    short_duration(timezone.now() - item.started_at)
                    if running and item.started_at
                    else ""
                ),
            },
        )
