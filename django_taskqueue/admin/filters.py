"""Change-list filters and a paginator that stay fast on a task table with millions of rows."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ..exceptions import InvalidName
from ..models import QueueState, Runner, TaskDefinition
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

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
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
    each page view; these three small tables name the queues that matter without that scan.
    An ad-hoc queue nobody serves can still be filtered through the URL (``?queue=name``).
    """

    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        names = set(TaskDefinition.all_objects.values_list("queue_name", flat=True))
        names |= set(QueueState.objects.values_list("name", flat=True))
        for queues in Runner.objects.live().values_list("queues", flat=True):
            names.update(queues)
        if self.value():
            names.add(self.value())
        return [(name, name) for name in sorted(names)]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value():
            try:
                name = validate_name(self.value(), "queue name")
            except InvalidName as exc:
                raise IncorrectLookupParameters(str(exc)) from None
            return queryset.filter(queue_name=name)
        return queryset


class EstimatedCountPaginator(Paginator):
    """Counts large PostgreSQL tables from the planner's statistics instead of ``COUNT(*)``.

    Counting a million rows on every change-list view takes seconds on PostgreSQL. When the
    table's ``reltuples`` says it is larger than ``exact_count_limit``, an unfiltered list uses
    that number and a filtered one uses the planner's row estimate from ``EXPLAIN``. Page
    links are then approximate, which is the usual trade for a list this size. Small tables,
    and SQLite, get the exact count.
    """

    exact_count_limit = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        table_rows = self._table_estimate(queryset)
        if table_rows <= self.exact_count_limit:
            return super().count
        if not queryset.query.where:
            return table_rows
        return self._planner_estimate(queryset)

    @staticmethod
    def _table_estimate(queryset: QuerySet) -> int:
        """``reltuples`` of the model's table; -1 (never analysed) reads as small."""
        connection = connections[queryset.db]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else -1

    @staticmethod
    def _planner_estimate(queryset: QuerySet) -> int:
        query = queryset.order_by().values("pk").query
        sql, params = query.get_compiler(using=queryset.db).as_sql()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
