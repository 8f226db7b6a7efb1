"""A change list whose date drill-down costs two index lookups instead of a table scan.

Django's ``date_hierarchy`` lists the years, months or days that hold rows with
``SELECT DISTINCT date_trunc(...)`` over the whole filtered list: most of a second on a million
items, on every page view. Here the dates of the list's newest and oldest item (by id, which
rises with ``created_at``) bound the periods, and every period between them is offered; one
without items simply opens an empty list. Both are read from the index the unsorted list is
read from, where ``MIN``/``MAX`` of a filtered list would walk the ``created_at`` index past
every newer item of other queues or statuses. The template renders the result with Django's
own ``admin/date_hierarchy.html``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Protocol, cast

from django.contrib.admin.views.main import ChangeList
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext as _


def _months(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, current = [], first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + datetime.timedelta(days=32)).replace(day=1)
    return months


def _days(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    return [first + datetime.timedelta(days=n) for n in range((last - first).days + 1)]


class NewestFirst(Protocol):
    """The model admin's order for a list with these filters and no column sorted."""

    def newest_first(self, params: Mapping[str, Any]) -> tuple[str, ...]: ...


class RangeDateHierarchyChangeList(ChangeList):
    @cached_property
    def range_date_hierarchy(self) -> dict[str, Any]:
        """The context Django's ``date_hierarchy`` tag would build, from MIN and MAX only."""
        field = self.date_hierarchy
        year, month, day = (
            self.params.get(f"{field}__{part}") for part in ("year", "month", "day")
        )
        label = getattr(self.model._meta.get_field(field), "verbose_name", field)
        context: dict[str, Any] = {"show": True, "field_name": label, "back": None}

        def link(**parts: Any) -> str:
            filters = {f"{field}__{name}": value for name, value in parts.items()}
            return self.get_query_string(filters, [f"{field}__"])

        if year and month and day:
            chosen = datetime.date(int(year), int(month), int(day))
            context["back"] = {"link": link(year=year, month=month), "title": self._month(chosen)}
            context["choices"] = [
                {"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}
            ]
            return context
        # Newest first as with no column sorted, whichever column the list is sorted by.
        newest_first = cast(NewestFirst, self.model_admin).newest_first(self.params)
        dates = self.queryset.order_by(*newest_first).values_list(field, flat=True)
        newest, oldest = dates.first(), dates.reverse().first()
        if newest is None or oldest is None:
            return {"show": False}
        first, last = sorted(timezone.localtime(date).date() for date in (oldest, newest))
        if not year and first.year == last.year:
            year = str(first.year)
            month = month or (str(first.month) if first.month == last.month else None)
        if year and month:
            context["back"] = {"link": link(year=year), "title": year}
            context["choices"] = [
                {
                    "link": link(year=year, month=month, day=d.day),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in _days(first, last)
            ]
        elif year:
            context["back"] = {"link": link(), "title": _("All dates")}
            context["choices"] = [
                {"link": link(year=year, month=m.month), "title": self._month(m)}
                for m in _months(first, last)
            ]
        else:
            context["choices"] = [
                {"link": link(year=y), "title": str(y)} for y in range(first.year, last.year + 1)
            ]
        return context

    @staticmethod
    def _month(date: datetime.date) -> str:
        return capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT"))
