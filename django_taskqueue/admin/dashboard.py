"""The queues dashboard: the QueueState admin's change list, replaced by an overview page.

Queues are not rows an operator creates or edits; they exist because items name them. So the
"Queues" entry on the admin index opens this page: per-queue health from ``queue_overview()``,
a throughput chart, pause/resume buttons and the live runners. Its figures come from the
``live/`` fragment too, which the page's script fetches every few seconds to replace them
without reloading the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..actions import set_queue_limits, set_queue_paused
from ..audit import Actor
from ..exceptions import InvalidName, InvalidValue
from ..limits import concurrency_limit_from_text
from ..models import QueueItem, QueueState, Runner
from ..stats import QueueOverview, live_runners, minute_window, queue_overview
from ..validation import validate_name
from .charts import MinuteChart, minute_chart, summed
from .display import STYLESHEET, compact_time, relative_time, short_duration

WINDOW_MINUTES = 15
REFRESH_SECONDS = 5  # how often the page's script fetches fresh figures
LIVE_TEMPLATE = "admin/django_taskqueue/queuestate/dashboard_live.html"


@dataclass
class QueueRow:
    """What the template needs for one queue, links included."""

    overview: QueueOverview
    chart: MinuteChart
    oldest_queued_age: str
    next_scheduled: SafeString | str
    status_links: list[tuple[str, Any, int, str]]  # (status, label, count, url)
    concurrency_limit: int | None = None
    rate_limit: str = ""


@dataclass
class RunnerRow:
    runner: Runner
    started: SafeString | str
    heartbeat: SafeString | str  # "3 s ago"


@admin.register(QueueState)
class QueueDashboardAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": (STYLESHEET,)}
        js = ("django_taskqueue/dashboard.js",)

    def get_urls(self) -> list[Any]:
        # The dashboard, under the change-list URL name the admin index links to, its live
        # figures and the pause switch. Queue rows are never added, edited or deleted by hand.
        return [
            path(
                "",
                self.admin_site.admin_view(self.dashboard_view),
                name="django_taskqueue_queuestate_changelist",
            ),
            path(
                "live/",
                self.admin_site.admin_view(self.live_view),
                name="django_taskqueue_queuestate_live",
            ),
            path(
                "set-paused/",
                self.admin_site.admin_view(self.set_paused_view),
                name="django_taskqueue_queuestate_set_paused",
            ),
            path(
                "set-limits/",
                self.admin_site.admin_view(self.set_limits_view),
                name="django_taskqueue_queuestate_set_limits",
            ),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **self._figures(request),
            "title": _("Queues and runners"),
            "opts": self.opts,
            "media": self.media,
            "refresh_seconds": REFRESH_SECONDS,
        }
        return TemplateResponse(
            request, "admin/django_taskqueue/queuestate/dashboard.html", context
        )

    def live_view(self, request: HttpRequest) -> HttpResponse:
        """The dashboard's figures alone, as the HTML fragment the page's script swaps in."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return TemplateResponse(request, LIVE_TEMPLATE, self._figures(request))

    def _figures(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now()
        first_minute = minute_window(now, WINDOW_MINUTES)
        overviews = queue_overview(WINDOW_MINUTES, now=now)
        states = {state.name: state for state in QueueState.objects.all()}
        return {
            "now": now,
            "window_minutes": WINDOW_MINUTES,
            "queues": [
                self._row(overview, first_minute, now, states.get(overview.name))
                for overview in overviews
            ],
            "total_chart": minute_chart(
                summed([o.throughput_per_minute for o in overviews], WINDOW_MINUTES),
                summed([o.failures_per_minute for o in overviews], WINDOW_MINUTES),
                first_minute,
                width=600,
                height=120,
                labelled=True,
            ),
            "runners": [
                RunnerRow(
                    runner, compact_time(runner.started_at), relative_time(runner.heartbeat_at, now)
                )
                for runner in live_runners()
            ],
            "can_pause": self.has_change_permission(request),
        }

    @staticmethod
    def _row(
        overview: QueueOverview, first_minute: datetime, now: datetime, state: QueueState | None
    ) -> QueueRow:
        items_url = reverse("admin:django_taskqueue_queueitem_changelist")
        return QueueRow(
            overview=overview,
            chart=minute_chart(
                overview.throughput_per_minute, overview.failures_per_minute, first_minute
            ),
            oldest_queued_age=short_duration(overview.oldest_queued_age_seconds),
            next_scheduled=relative_time(overview.next_scheduled_at, now),
            status_links=[
                (
                    status,
                    label,
                    overview.counts.get(status, 0),
                    f"{items_url}?queue={overview.name}&status__exact={status}",
                )
                for status, label in QueueItem.Status.choices
            ],
            concurrency_limit=state.concurrency_limit if state else None,
            rate_limit=state.rate_limit if state else "",
        )

    def _posted_queue(self, request: HttpRequest) -> str:
        """The queue a dashboard form names, from a POST by an operator who may change it."""
        if request.method != "POST":
            raise _Refused(HttpResponseNotAllowed(["POST"]))
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            return validate_name(request.POST.get("queue", ""), "queue name")
        except InvalidName as exc:
            self.message_user(request, str(exc), messages.ERROR)
            raise _Refused(HttpResponseRedirect(_dashboard())) from None

    def set_limits_view(self, request: HttpRequest) -> HttpResponse:
        """Set a queue's concurrency and rate limits (empty fields: no limit)."""
        try:
            name = self._posted_queue(request)
        except _Refused as refused:
            return refused.response
        try:
            state = set_queue_limits(
                name,
                concurrency_limit=concurrency_limit_from_text(
                    request.POST.get("concurrency_limit", "")
                ),
                rate_limit=request.POST.get("rate_limit", "").strip(),
                actor=Actor(request.user, "admin"),
            )
        except InvalidValue as exc:
            self.message_user(request, f"{name}: {exc}", messages.ERROR)
            return HttpResponseRedirect(_dashboard())
        said = ", ".join(
            part
            for part in (
                state.concurrency_limit and f"at most {state.concurrency_limit} running",
                state.rate_limit and f"at most {state.rate_limit}",
            )
            if part
        )
        self.message_user(
            request,
            _("Queue “%(name)s”: %(limits)s.") % {"name": name, "limits": said or _("no limits")},
        )
        return HttpResponseRedirect(_dashboard())

    def set_paused_view(self, request: HttpRequest) -> HttpResponse:
        """Pause or resume a whole queue: runners stop claiming from it, its items stay."""
        try:
            name = self._posted_queue(request)
        except _Refused as refused:
            return refused.response
        dashboard = _dashboard()
        paused = request.POST.get("paused") == "1"
        set_queue_paused(name, paused, actor=Actor(request.user, "admin"))
        state = _("paused") if paused else _("resumed")
        message = _("Queue “%(name)s” %(state)s.") % {"name": name, "state": state}
        self.message_user(request, message)
        return HttpResponseRedirect(dashboard)


class _Refused(Exception):
    """A dashboard form refused before it changed anything, with the response to give."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _dashboard() -> str:
    return reverse("admin:django_taskqueue_queuestate_changelist")
