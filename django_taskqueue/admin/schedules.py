"""The schedule admin: timings in words, the next fire times, Enable / Disable and "Fire now".

Every rule a schedule's fields follow is ``Schedule.clean`` (``schedules.checks``), so a bad
cron expression or timezone is an error on its field here as in the settings and the CLI.
Firing is ``schedules.firing.fire_now``, as at the CLI and the HTTP API; enabling and
disabling go through ``Schedule.save``, which works out ``next_fire_at`` afresh.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from ..exceptions import TaskQueueError
from ..models import QueueItem, Schedule
from ..schedules import firing
from ..schedules.checks import FIELDS
from .definitions import ParametersField
from .display import STYLESHEET
from .filters import CheckedLookupsMixin
from .schedule_columns import ScheduleColumnsMixin, item_link

FIRE_PERMISSION = "django_taskqueue.fire_schedule"
# What working out a stored schedule's fire times raises when its row is past the checks
# (InvalidValue and croniter's errors are ValueErrors; an unknown zone is a KeyError).
TIMING_ERRORS = (ValueError, KeyError)


class ScheduleForm(forms.ModelForm):
    # Parsed like the enqueue form's parameters: bad JSON is a field error, never a 500.
    parameters = ParametersField(
        label=_("Parameters (JSON object)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField"}),
    )

    class Meta:
        model = Schedule
        fields = FIELDS  # laid out by ScheduleAdmin.fieldsets


@admin.register(Schedule)
class ScheduleAdmin(ScheduleColumnsMixin, CheckedLookupsMixin, admin.ModelAdmin):
    form = ScheduleForm
    list_display = (
        "name",
        "alias_column",
        "description_column",
        "zone_column",
        "next_fire_column",
        "last_fired_column",
        "enabled",
        "last_error_column",
    )
    list_display_links = ("name",)
    list_filter = ("enabled", "misfire", "tenant")
    search_fields = ("name", "alias")
    actions = ("fire_now", "enable", "disable")
    fieldsets = (
        (None, {"fields": ("name", "alias", "enabled")}),
        (
            _("The items it makes"),
            {"fields": ("parameters", "queue_name", "priority", "tenant")},
        ),
        (
            _("When it fires"),
            {"fields": ("cron", "interval_seconds", "timezone", "start_at", "end_at")},
        ),
        (_("Catch-up after downtime"), {"fields": ("misfire", "max_catch_up")}),
    )
    # Kept by the runners and worked out from the timing: shown on a saved schedule's page.
    state_fieldsets = (
        (
            _("Firing"),
            {
                "fields": (
                    "description_text",
                    "upcoming_times",
                    "next_fire_at_exact",
                    "last_fired_at_exact",
                    "items_link",
                    "last_error_block",
                )
            },
        ),
        (_("History"), {"fields": ("created_at_exact", "updated_at_exact")}),
    )
    readonly_fields = tuple(name for _t, options in state_fieldsets for name in options["fields"])

    class Media:
        css = {"all": (STYLESHEET,)}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fieldsets if obj is None else (*self.fieldsets, *self.state_fieldsets)

    def get_urls(self) -> list[Any]:
        fire = path(
            "<path:object_id>/fire/",
            self.admin_site.admin_view(self.fire_view),
            name="django_taskqueue_schedule_fire",
        )
        return [fire, *super().get_urls()]

    def has_fire_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FIRE_PERMISSION)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        context["may_fire"] = self.has_fire_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        """On a change, write only what the operator changed (``save`` adds ``next_fire_at``
        when the timing changed): a runner may have fired the schedule since the page was
        read, and its ``next_fire_at``, ``last_fired_at`` and ``last_error`` must stand."""
        if change:
            obj.save(update_fields=[*form.changed_data, "updated_at"])
        else:
            obj.save()

    # ---------------------------------------------------------------- Fire now
    def fire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Fire now" button: fire, then back to the page with the item."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_fire_permission(request):
            raise PermissionDenied
        schedule = self.get_object(request, unquote(object_id))
        if schedule is None:  # also for ids that are not numbers at all
            raise Http404(_("There is no schedule with id %(id)s.") % {"id": object_id})
        if not self.has_view_or_change_permission(request, schedule):
            raise PermissionDenied
        item = self._fire(request, schedule)
        if item is not None:
            self.message_user(
                request,
                format_html("Fired “{}” now: created item {}.", schedule.name, item_link(item)),
                messages.SUCCESS,
            )
        return HttpResponseRedirect(
            reverse("admin:django_taskqueue_schedule_change", args=[schedule.pk])
        )

    @admin.action(description=_("Fire selected schedules now"), permissions=["fire"])
    def fire_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        fired = [(s, item) for s in queryset if (item := self._fire(request, s)) is not None]
        if fired:
            links = format_html_join(
                ", ", "{} ({})", ((item_link(item), s.name) for s, item in fired)
            )
            self.message_user(
                request, format_html("Fired now: created item(s) {}.", links), messages.SUCCESS
            )

    def _fire(self, request: HttpRequest, schedule: Schedule) -> QueueItem | None:
        """``fire_now``, logged in the schedule's History; a refusal (an inactive or unknown
        task) is an error message and no item."""
        try:
            item = firing.fire_now(schedule)
        except TaskQueueError as exc:
            self.message_user(request, f"Could not fire “{schedule.name}”: {exc}", messages.ERROR)
            return None
        self.log_change(request, schedule, f"Fired now: item #{item.pk} (via admin)")
        return item

    # ---------------------------------------------------------------- Enable / Disable
    @admin.action(description=_("Enable selected schedules"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable selected schedules"), permissions=["change"])
    def disable(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> None:
        """Each row saved on its own: ``save`` sets ``next_fire_at`` (from now when enabled, so
        no catch-up for the time it was off; none when disabled)."""
        changed = same = 0
        verb = "Enabled" if enabled else "Disabled"
        for schedule in queryset:
            if schedule.enabled == enabled:
                same += 1
                continue
            schedule.enabled = enabled
            try:
                schedule.save(update_fields=["enabled", "updated_at"])
            except TIMING_ERRORS as exc:  # one bad row must not stop the others
                self.message_user(
                    request,
                    f"“{schedule.name}” not {verb.lower()}: {type(exc).__name__}: {exc}",
                    messages.ERROR,
                )
                continue
            self.log_change(request, schedule, f"{verb} (via admin)")
            changed += 1
        self.message_user(
            request,
            _("%(changed)d schedule(s) %(state)s; %(same)d already were.")
            % {"changed": changed, "state": verb.lower(), "same": same},
            messages.SUCCESS,
        )
