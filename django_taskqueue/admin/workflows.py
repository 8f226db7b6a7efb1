"""The workflow admin: a change list with each workflow's steps per status, and a read-only page
that draws its graph (``workflow_graph``), each step linking to its item.

Workflows are made by ``enqueue_workflow``, never here; their status follows their items. The
one operation is Cancel, ``actions.cancel_workflow`` as at the HTTP API, which needs the
permission to cancel items (a workflow's cancel is its items' cancel).
"""

from __future__ import annotations

from typing import Any, cast

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
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import actions
from ..audit import Actor
from ..lineage import status_counts, workflow_steps
from ..models import QueueItem, Workflow
from ..models.workflows import StatusCounts
from .display import (
    STYLESHEET,
    ReadOnlyAdminMixin,
    compact_time,
    exact_time_field,
    status_badge,
)
from .filters import CheckedLookupsMixin
from .workflow_graph import MAX_COLUMNS, layout

# The graph lays out at most this many steps, the first by id; their counts cover all.
MAX_GRAPH_STEPS = 20_000


def items_url(workflow: Workflow) -> str:
    """The item change list showing this workflow's steps."""
    changelist = reverse("admin:django_taskqueue_queueitem_changelist")
    return f"{changelist}?workflow__id__exact={workflow.pk}"


def count_badges(counts: StatusCounts) -> SafeString:
    """A badge per status its steps are in: ``Waiting for parents 3`` ``Queued 1``."""
    labels = dict(QueueItem.Status.choices)
    badges = format_html_join(
        " ",
        '<span class="tq-badge tq-status-{}">{} <span class="tq-count">{}</span></span>',
        ((status, labels[status], n) for status, n in counts.items() if n),
    )
    return badges or format_html('<span class="quiet">{}</span>', _("no steps"))


@admin.register(Workflow)
# Made by enqueue_workflow and finished by its items: never added, edited or deleted here.
class WorkflowAdmin(ReadOnlyAdminMixin, CheckedLookupsMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "name_column",
        "colored_status",
        "counts_column",
        "created_column",
        "completed_column",
    )
    list_display_links = ("id", "name_column")
    list_filter = ("status",)
    search_fields = ("name",)
    ordering = ("-id",)
    list_per_page = 50
    show_full_result_count = False
    actions = ("cancel_selected",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "colored_status",
                    "counts_column",
                    "created_at_exact",
                    "completed_at_exact",
                    "items_link",
                )
            },
        ),
        (_("Steps"), {"fields": ("graph",)}),
    )
    readonly_fields = tuple(
        name for _title, options in fieldsets for name in cast(tuple[str, ...], options["fields"])
    )

    class Media:
        css = {"all": (STYLESHEET,)}

    created_at_exact = exact_time_field(Workflow, "created_at")
    completed_at_exact = exact_time_field(Workflow, "completed_at")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(actions.REQUIRED_PERMISSION["cancel"])

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """The page's counts in one query, kept on its rows for ``counts_column``."""
        changelist = super().get_changelist_instance(request)
        page = list(changelist.result_list)
        counts = status_counts(page)
        for workflow in page:
            workflow.__dict__["page_counts"] = counts[workflow.pk]
        return changelist

    # ---------------------------------------------------------------- columns and fields
    @admin.display(description=_("name"), ordering="name")
    def name_column(self, workflow: Workflow) -> str:
        return workflow.name or "—"

    @admin.display(description=_("status"), ordering="status")
    def colored_status(self, workflow: Workflow) -> str:
        return status_badge(workflow.status, workflow.get_status_display())

    @admin.display(description=_("steps"))
    def counts_column(self, workflow: Workflow) -> SafeString:
        return count_badges(workflow.__dict__.get("page_counts") or workflow.counts)

    @admin.display(description=_("created"), ordering="created_at")
    def created_column(self, workflow: Workflow) -> str:
        return compact_time(workflow.created_at)

    @admin.display(description=_("completed"), ordering="completed_at")
    def completed_column(self, workflow: Workflow) -> str:
        return compact_time(workflow.completed_at)

    @admin.display(description=_("items"))
    def items_link(self, workflow: Workflow) -> SafeString:
        total = sum(workflow.counts.values())
        label = ngettext("%(n)d item", "%(n)d items", total) % {"n": total}
        return format_html('<a href="{}">{}</a>', items_url(workflow), label)

    @admin.display(description=_("graph"))
    def graph(self, workflow: Workflow) -> str:
        """Columns by depth, a box per step coloured by status, each linking to its item."""
        steps = workflow_steps(workflow, MAX_GRAPH_STEPS)
        return render_to_string(
            "admin/django_taskqueue/workflow/graph.html",
            {
                "graph": layout(steps),
                "items_url": items_url(workflow),
                "max_columns": MAX_COLUMNS,
                "truncated": len(steps) == MAX_GRAPH_STEPS,
                "loaded": MAX_GRAPH_STEPS,
            },
        )

    # ---------------------------------------------------------------- Cancel
    def get_urls(self) -> list[Any]:
        cancel = path(
            "<path:object_id>/cancel/",
            self.admin_site.admin_view(self.cancel_view),
            name="django_taskqueue_workflow_cancel",
        )
        return [cancel, *super().get_urls()]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        workflow = kwargs.get("obj")
        context["may_cancel"] = (
            workflow is not None
            and not workflow.is_finished
            and self.has_cancel_permission(request)
        )
        return super().render_change_form(request, context, *args, **kwargs)

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The page's "Cancel workflow" button: cancel, then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        workflow = self.get_object(request, unquote(object_id))
        if workflow is None:
            raise Http404(_("There is no workflow with id %(id)s.") % {"id": object_id})
        if not self.has_view_permission(request, workflow):
            raise PermissionDenied
        self._cancel(request, workflow)
        return HttpResponseRedirect(
            reverse("admin:django_taskqueue_workflow_change", args=[workflow.pk])
        )

    @admin.action(description=_("Cancel selected workflows"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        for workflow in queryset:
            self._cancel(request, workflow)

    def _cancel(self, request: HttpRequest, workflow: Workflow) -> None:
        if workflow.is_finished:
            self.message_user(
                request,
                _("Workflow #%(id)s is %(status)s: it has nothing left to cancel.")
                % {"id": workflow.pk, "status": workflow.status},
                messages.WARNING,
            )
            return
        report = actions.cancel_workflow(workflow, actor=Actor(request.user, "admin"))
        self.message_user(
            request, f"Workflow #{workflow.pk}: {report.summary()}.", messages.SUCCESS
        )
