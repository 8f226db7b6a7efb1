"""The task-definition admin: per-definition item counts, activation, and "Enqueue now"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.fields import InvalidJSONInput
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..enqueue import enqueue_by_alias
from ..exceptions import InvalidValue, TaskQueueError
from ..jsonvalues import decode_json_text
from ..models import QueueItem, TaskDefinition
from ..validation import parse_item_ids
from .display import STYLESHEET, breakable, exact_time_field
from .filters import CheckedLookupsMixin, DeletedFilter

ENQUEUE_PERMISSION = "django_taskqueue.enqueue_taskdefinition"


class ParametersField(forms.JSONField):
    """JSON typed by an operator, parsed by the same rules as the CLI's ``--params``.

    Django's own field lets ``RecursionError`` (deep nesting) and the ``ValueError`` for
    integers over 4,300 digits escape as a 500.
    """

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values:
            return None
        if isinstance(value, str):
            try:
                return decode_json_text(value, "parameters")
            except InvalidValue as exc:
                raise forms.ValidationError(str(exc), code="invalid") from None
        return value

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Redisplay what the operator typed, as typed: Django's field would parse it again
        # (failing on the same input) and re-encode it (failing on a lone surrogate).
        if isinstance(data, str) and not self.disabled:
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)


class EnqueueForm(forms.Form):
    """What ``enqueue_by_alias`` takes; it, not this form, decides what is valid."""

    parameters = ParametersField(
        label=_("Parameters (JSON object)"),
        initial=dict,
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "class": "vLargeTextField"}),
    )
    queue_name = forms.CharField(
        label=_("Queue"), required=False, help_text=_("Empty: the definition's default queue.")
    )
    priority = forms.IntegerField(
        label=_("Priority"), required=False, help_text=_("Empty: the definition's priority.")
    )
    delay_seconds = forms.FloatField(
        label=_("Delay (seconds)"), required=False, help_text=_("Empty: run now.")
    )
    depends_on = forms.CharField(
        label=_("Waits for (item ids)"),
        required=False,
        help_text=_("e.g. 3, 4: it runs once they have all succeeded. Empty: none."),
    )
    on_parent_failure = forms.TypedChoiceField(
        label=_("If a parent does not succeed"),
        choices=QueueItem.OnParentFailure.choices,
        initial=QueueItem.OnParentFailure.CANCEL,
        required=False,
        empty_value=QueueItem.OnParentFailure.CANCEL,
    )
    webhook_url = forms.CharField(
        label=_("Webhook URL"), required=False, help_text=_("Where its outcome is POSTed.")
    )
    tenant = forms.CharField(label=_("Tenant"), required=False, help_text=_("Empty: none."))

    def clean_depends_on(self) -> list[int]:
        text = self.cleaned_data["depends_on"].strip()
        try:
            return parse_item_ids(text) if text else []
        except InvalidValue as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None

    def enqueue(self, alias: str) -> QueueItem | None:
        """Enqueue from the cleaned data; on a ``TaskQueueError`` record it as a form error."""
        data = self.cleaned_data
        try:
            return enqueue_by_alias(
                alias,
                data["parameters"],
                queue_name=data["queue_name"] or None,
                priority=data["priority"],
                delay=data["delay_seconds"],
                depends_on=data["depends_on"],
                on_parent_failure=data["on_parent_failure"],
                webhook_url=data["webhook_url"],
                tenant=data["tenant"] or None,
            )
        except TaskQueueError as exc:
            self.add_error(None, str(exc))
            return None


def _count_items(status: str) -> Coalesce:
    """A correlated subquery, so only the definitions on the page are counted.

    A JOIN with GROUP BY would aggregate every item of every definition (and again for the
    paginator's COUNT); per-status subqueries are served by the ``(status, completed_at)``
    index, which is small for the waiting and running statuses.
    """
    items = (
        QueueItem.objects.filter(definition=OuterRef("pk"), status=status)
        .order_by()
        .values("definition")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(items), 0)


@admin.register(TaskDefinition)
class TaskDefinitionAdmin(CheckedLookupsMixin, admin.ModelAdmin):
    list_display = (
        "alias_column",
        "title",
        "is_active",
        "queue_name",
        "priority",
        "max_attempts",
        "queued_count",
        "running_count",
        "failed_count",
        "enqueue_link",
    )
    list_display_links = ("alias_column",)
    list_filter = ("is_active", "queue_name", DeletedFilter)
    search_fields = ("alias", "title", "handler")
    readonly_fields = ("handler", "created_at_exact", "updated_at_exact", "deleted_at_exact")
    fieldsets = (
        (None, {"fields": ("alias", "title", "description", "handler", "is_active")}),
        (_("Defaults for new items"), {"fields": ("queue_name", "priority", "max_attempts")}),
        (
            _("Retries and time limit"),
            {
                "fields": (
                    "retry_backoff",
                    "retry_backoff_seconds",
                    "retry_backoff_max_seconds",
                    "timeout_seconds",
                )
            },
        ),
        (
            _("Flow control"),
            {
                "fields": (
                    "concurrency_limit",
                    "rate_limit",
                    "key_concurrency_limit",
                    "key_rate_limit",
                    "unique_while",
                    "unique_for_seconds",
                )
            },
        ),
        (_("History"), {"fields": ("created_at_exact", "updated_at_exact", "deleted_at_exact")}),
    )
    actions = ("activate", "deactivate")

    class Media:
        css = {"all": (STYLESHEET,)}

    created_at_exact = exact_time_field(TaskDefinition, "created_at")
    updated_at_exact = exact_time_field(TaskDefinition, "updated_at")
    deleted_at_exact = exact_time_field(TaskDefinition, "deleted_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The counts come with the rows, in the same query: no query per definition.
        return TaskDefinition.all_objects.annotate(
            queued_count=_count_items(QueueItem.Status.QUEUED),
            running_count=_count_items(QueueItem.Status.RUNNING),
            failed_count=_count_items(QueueItem.Status.FAILED),
        )

    def get_urls(self) -> list[Any]:
        enqueue = path(
            "<path:object_id>/enqueue/",
            self.admin_site.admin_view(self.enqueue_view),
            name="django_taskqueue_taskdefinition_enqueue",
        )
        return [enqueue, *super().get_urls()]

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        if self.has_enqueue_permission(request):
            return self.list_display
        return tuple(name for name in self.list_display if name != "enqueue_link")

    def has_enqueue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ENQUEUE_PERMISSION)

    def enqueue_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_enqueue_permission(request):
            raise PermissionDenied
        definition = self.get_object(request, unquote(object_id))
        if definition is None:  # also for ids that are not numbers at all
            raise Http404(_("There is no task definition with id %(id)s.") % {"id": object_id})
        form = EnqueueForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            item = form.enqueue(definition.alias)
            if item is not None:
                url = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
                link = format_html('<a href="{}">#{}</a>', url, item.pk)
                message = format_html("Enqueued {} on queue “{}”.", link, item.queue_name)
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Enqueue %(alias)s") % {"alias": definition.alias},
            "opts": self.opts,
            "original": definition,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request, definition),
        }
        return TemplateResponse(
            request, "admin/django_taskqueue/taskdefinition/enqueue.html", context
        )

    @admin.display(description=_("alias"), ordering="alias")
    def alias_column(self, definition: TaskDefinition) -> str:
        return breakable(definition.alias)

    @admin.display(description=_("queued"), ordering="queued_count")
    def queued_count(self, definition: TaskDefinition) -> int:
        return int(getattr(definition, "queued_count", 0))

    @admin.display(description=_("running"), ordering="running_count")
    def running_count(self, definition: TaskDefinition) -> int:
        return int(getattr(definition, "running_count", 0))

    @admin.display(description=_("failed"), ordering="failed_count")
    def failed_count(self, definition: TaskDefinition) -> str:
        failed = int(getattr(definition, "failed_count", 0))
        if not failed:
            return "0"
        url = reverse("admin:django_taskqueue_queueitem_changelist")
        return format_html(
            '<a class="tq-failed" href="{}?status__exact=failed&definition__id__exact={}">{}</a>',
            url,
            definition.pk,
            failed,
        )

    @admin.display(description="")
    def enqueue_link(self, definition: TaskDefinition) -> str:
        url = reverse("admin:django_taskqueue_taskdefinition_enqueue", args=[definition.pk])
        return format_html('<a href="{}">{}</a>', url, _("Enqueue now"))

    @admin.action(description=_("Activate selected definitions"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description=_("Deactivate selected definitions"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet, active: bool) -> None:
        # Plain primary keys: the change list's queryset carries the per-status counts.
        selected = list(queryset.values_list("pk", flat=True))
        changed = (
            TaskDefinition.all_objects.filter(pk__in=selected)
            .exclude(is_active=active)
            .update(is_active=active, updated_at=timezone.now())
        )
        state = _("active") if active else _("inactive")
        self.message_user(
            request,
            _("%(changed)d definition(s) made %(state)s; %(same)d already were.")
            % {"changed": changed, "state": state, "same": len(selected) - changed},
            messages.SUCCESS,
        )
