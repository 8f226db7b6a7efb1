"""Change-list filters and a paginator that stay fast on a task table with millions of rows."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ..exceptions import InvalidName
from ..models.item_queries import QueueItemQuerySet
from ..store import get_store
from ..tenants import check_tenant
from ..validation import validate_name


class CheckedLookupsMixin:
    """Refuse change-list URLs whose parameters hold a NUL character.

    No stored value holds one, and PostgreSQL refuses it in a query with an error that would
    surface while the page renders (a 500). Raised here, Django's admin answers as for any
    bad lookup: it redirects to the list with ``?e=1``.
    """

    def get_changelist_instance(self, request: Any) -> Any:
        if any("\x00" in text for key, values in request.GET.lists() for text in [key, *values]):
            raise IncorrectLookupParameters("A NUL character in the URL's parameters.")
        return super().get_changelist_instance(request)  # type: ignore[misc]


class DeletedFilter(admin.SimpleListFilter):
    """Soft-deleted rows are hidden unless asked for.

    The admin's queryset comes from ``all_objects``, so this filter alone decides what is
    visible; restoring an item starts with choosing "deleted only" here.
    """

    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, Any]]:
        return [("only", _("Deleted only")), ("all", _("Deleted and not deleted"))]

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if choice["display"] == _("All"):  # the default really is "hidden"
                choice["display"] = _("Not deleted")
            yield choice

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() == "only":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class QueueNameFilter(admin.SimpleListFilter):
    """Queues known from definitions, queue switches and live runners.

    Django's default field filter would run ``SELECT DISTINCT queue_name`` over every item on
    each page view; the store names the queues that matter from three small tables instead.
    An ad-hoc queue nobody serves can still be filtered through the URL (``?queue=name``).
    """

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        names = get_store().known_queue_names()
        chosen = self.value()
        if chosen:
            names.add(chosen)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value():
            try:
                name = validate_name(self.value(), "queue name")
            except InvalidName as exc:
                raise IncorrectLookupParameters(str(exc)) from None
            return cast(QueueItemQuerySet, queryset).in_queue(name)
        return queryset


class TenantFilter(admin.SimpleListFilter):
    """Tenants named by schedules, and any other through the URL (``?tenant=acme``).

    As for queues, a ``SELECT DISTINCT tenant`` over the items would read every tenant's row
    of the index on each page view; the schedules table is small.
    """

    title = _("tenant")
    parameter_name = "tenant"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        names = get_store().schedule_tenants()
        chosen = self.value()
        if chosen:
            names.add(chosen)
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value():
            try:
                tenant = check_tenant(self.value())
            except InvalidName as exc:
                raise IncorrectLookupParameters(str(exc)) from None
            return queryset.filter(tenant=tenant)
        return queryset


class EstimatedCountPaginator(Paginator):
    """Counts large PostgreSQL tables from the planner's statistics instead of ``COUNT(*)``.

    Counting a million rows on every change-list view takes seconds on PostgreSQL; the store's
    ``estimated_count`` answers from ``reltuples`` or the planner's estimate on big tables.
    Page links are then approximate, which is the usual trade for a list this size. Small
    tables, and SQLite, get the exact count.
    """

    exact_count_limit = 100_000

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return super().count
        store = get_store(self.object_list.db)
        return store.estimated_count(self.object_list, self.exact_count_limit)
