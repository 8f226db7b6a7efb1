"""The queue-item admin: a change list for operators, bulk actions, a read-mostly detail page.

Every action, from the list or from a button on the item's page (``item_actions``), goes
through ``actions.apply_action``, the same code the CLI and HTTP API use, and reports what
changed and what was skipped. Fields a runner owns are never editable here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from ..actions import REQUIRED_PERMISSION
from ..exceptions import InvalidValue
from ..models import QueueItem
from ..models.item_queries import NEWEST_IN_QUEUE_FIRST
from ..store import get_store
from ..validation import parse_item_id
from .changelist import RangeDateHierarchyChangeList
from .display import STYLESHEET
from .filters import (
    CheckedLookupsMixin,
    DeletedFilter,
    EstimatedCountPaginator,
    QueueNameFilter,
    TenantFilter,
)
from .item_actions import ItemButtonsMixin, bulk_action
from .item_columns import ItemColumnsMixin
from .item_dependencies import DEPENDENCY_FIELDS, ItemDependenciesMixin, dependency_fieldset
from .item_webhooks import REPORTED_ITEM_FIELDS, WEBHOOK_FIELDS, ItemWebhooksMixin, webhook_fieldset

# What an operator may change, and only while the item waits: where and when it runs.
OPERATOR_EDITABLE_FIELDS = ("queue_name", "priority", "run_at")
EDITABLE_STATUSES = (QueueItem.Status.QUEUED, QueueItem.Status.PAUSED)
# The same, once read-only: run at to the second, like the item's other times.
READ_ONLY_SCHEDULING_FIELDS = ("queue_name", "priority", "run_at_exact")
# Shown after the definition on the page of an item a schedule fired, and only there.
SCHEDULE_FIELDS = ("schedule_link", "scheduled_for_exact")


@admin.register(QueueItem)
class QueueItemAdmin(
    ItemButtonsMixin,
    ItemColumnsMixin,
    ItemDependenciesMixin,
    ItemWebhooksMixin,
    CheckedLookupsMixin,
    admin.ModelAdmin,
):
    list_display = (
        "id",
        "alias",
        "queue_column",
        "colored_status",
        "attempts_display",
        "priority",
        "run_at_column",
        "started_column",
        "error_column",
    )
    list_display_links = ("id", "alias")
    # The schedule filter lists the (small) schedules table; facets, which would count items
    # per schedule, are off. A schedule's page links to ``?schedule__id__exact=ID``.
    list_filter = (
        "status",
        QueueNameFilter,
        TenantFilter,
        "definition",
        "schedule",
        DeletedFilter,
    )
    search_fields = ("definition__alias", "parameters")  # and ids: see get_search_results
    date_hierarchy = "created_at"
    ordering = ("-id",)
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # per-option counts would scan the table each view
    actions = (
        bulk_action("cancel", _("Cancel (running items: ask the runner to stop)")),
        bulk_action("requeue", _("Requeue finished items")),
        bulk_action("run_now", _("Run now (skip the wait)")),
        bulk_action("pause", _("Pause queued items")),
        bulk_action("resume", _("Resume paused items")),
        bulk_action("soft_delete", _("Delete (soft: hidden, restorable)")),
        bulk_action("restore", _("Restore deleted items")),
    )
    fieldsets = (
        (
            None,
            {"fields": ("definition_link", "colored_status", "waiting_reason", "cancel_requested")},
        ),
        (_("Scheduling"), {"fields": OPERATOR_EDITABLE_FIELDS}),
        (
            _("Data"),
            {
                "fields": (
                    "parameters_json",
                    "output_json",
                    "tenant",
                    "concurrency_key",
                    "unique_key",
                    "unique_scope",
                )
            },
        ),
        (
            _("Progress"),
            {
                "fields": (
                    "attempts_display",
                    "runner_link",
                    "created_at_exact",
                    "started_at_exact",
                    "completed_at_exact",
                    "duration_display",
                    "updated_at_exact",
                    "deleted_at_exact",
                )
            },
        ),
        (
            _("Log"),
            {
                "fields": (
                    "details_block",
                    "last_error_class",
                    "last_error_message",
                    "last_error_block",
                    "attempt_history",
                )
            },
        ),
    )
    readonly_fields = (
        tuple(
            name
            for _title, options in fieldsets
            for name in cast(tuple[str, ...], options["fields"])
            if name not in OPERATOR_EDITABLE_FIELDS
        )
        + SCHEDULE_FIELDS
        + DEPENDENCY_FIELDS
        + WEBHOOK_FIELDS
        + REPORTED_ITEM_FIELDS
    )

    class Media:
        css = {"all": (STYLESHEET,)}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Soft-deleted items stay reachable (detail page, restore); DeletedFilter hides them
        # from the list by default. The joins serve the list's alias column and the detail
        # page's links, so neither costs a query per item.
        return QueueItem.all_objects.select_related("definition", "runner")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type:
        return RangeDateHierarchyChangeList

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        return self.newest_first(request.GET)

    def newest_first(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Newest first, for the list's filters (``params``). Within a year, month or day of
        the date drill-down, newest by ``created_at`` (the same order, as ids rise with it):
        PostgreSQL then reads that period backwards from the ``created_at`` index, where
        ``-id`` would walk the primary key from the newest item down to the period, seconds
        on millions of rows. Within one queue, in the order ``QueueItemQuerySet.in_queue``
        reads from its index."""
        if any(name.startswith(f"{self.date_hierarchy}__") for name in params):
            return ("-created_at", "-id")
        if params.get(QueueNameFilter.parameter_name):
            return NEWEST_IN_QUEUE_FIRST
        return self.ordering

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A number (or ``#number``) is an item id, looked up by primary key.

        Any other text is matched against aliases and parameter JSON. That match reads every
        row's parameters, seconds on millions of items, so it is not spent on the most common
        search, an id pasted from a log line.
        """
        term = search_term.strip().removeprefix("#")
        if term.isascii() and term.isdigit():
            try:
                return queryset.filter(pk=parse_item_id(term)), False
            except InvalidValue:  # 0, or more digits than any id has
                return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    @staticmethod
    def _editable(item: QueueItem | None) -> bool:
        return item is not None and item.status in EDITABLE_STATUSES and item.deleted_at is None

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if self._editable(obj):
            return self.readonly_fields
        return self.readonly_fields + READ_ONLY_SCHEDULING_FIELDS

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(self.fieldsets)
        if not self._editable(obj):
            fieldsets = [
                (title, {**options, "fields": READ_ONLY_SCHEDULING_FIELDS})
                if options["fields"] == OPERATOR_EDITABLE_FIELDS
                else (title, options)
                for title, options in fieldsets
            ]
        if obj is not None and obj.schedule_id is not None:
            (title, options), *rest = fieldsets
            first, *others = options["fields"]
            fieldsets = [(title, {**options, "fields": (first, *SCHEDULE_FIELDS, *others)}), *rest]
        dependencies = dependency_fieldset(obj)
        if dependencies is not None:
            fieldsets.insert(1, dependencies)  # after the status: where it stands in the graph
        webhook = webhook_fieldset(obj)
        if webhook is not None:
            fieldsets.append(webhook)
        return fieldsets

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        # Nothing to save on an item whose fields are all read-only: offer no Save buttons.
        if not context["adminform"].form.fields:
            context.update(show_save=False, show_save_and_continue=False)
        item = kwargs.get("obj")
        if item is not None:
            context["item_buttons"] = self.item_buttons(request, item)
        return super().render_change_form(request, context, *args, **kwargs)

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # ``action_location`` arrived in Django 6.1 (actions on the change form); 5.2 has none.
        location = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **location)
        actions.pop("delete_selected", None)  # items are soft-deleted, never removed here
        return actions

    # Permissions: one per operator verb, as named in actions.REQUIRED_PERMISSION.
    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REQUIRED_PERMISSION["cancel"])

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REQUIRED_PERMISSION["requeue"])

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REQUIRED_PERMISSION["pause"])

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # work is enqueued from its task definition ("Enqueue now")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The permission gates the soft-delete and restore actions; the hard-delete page of a
        # single item is not offered, so history is never lost from the admin.
        return obj is None and super().has_delete_permission(request)

    def save_model(self, request: HttpRequest, obj: QueueItem, form: Any, change: bool) -> None:
        """Write only the operator's fields, and only if the item still waits.

        A plain ``save()`` would write back the status read when the form opened, overwriting a
        runner that claimed the item meanwhile. Two ways to lose that race are reported: the
        item left the waiting states before this request (its fields are read-only now, yet the
        submitted form had them), or during it (the conditional UPDATE matches no row).
        """
        if not any(name in form.fields for name in OPERATOR_EDITABLE_FIELDS):
            if any(name in request.POST for name in OPERATOR_EDITABLE_FIELDS):
                obj.__dict__["_edit_rejected"] = True  # read by response_change
            return
        changes = {name: getattr(obj, name) for name in form.changed_data}
        if changes and not get_store().edit_waiting_item(obj.pk, changes):
            obj.__dict__["_edit_rejected"] = True

    def response_change(self, request: HttpRequest, obj: QueueItem) -> HttpResponse:
        if obj.__dict__.get("_edit_rejected"):
            obj.refresh_from_db()
            self.message_user(
                request,
                _("Not saved: item #%(id)s is %(status)s now, so it can no longer be edited.")
                % {"id": obj.pk, "status": obj.status},
                messages.ERROR,
            )
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)
