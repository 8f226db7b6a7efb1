"""An item's place in a graph, on its admin page: its workflow, the items it waits for and the
items that wait for it, each a link; shown only on the page of an item that has any of them.

Links are listed up to ``MAX_LINKS`` per side; the rest are one click away, on the item list
filtered to them (``?parents__id__exact=ID`` lists the items waiting for ID).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..lineage import children_of, parents_of
from ..models import QueueItem
from .display import status_badge

MAX_LINKS = 20
DEPENDENCY_FIELDS = ("workflow_link", "parents_links", "children_links", "on_parent_failure")


def _links(item: QueueItem) -> dict[str, list[int]]:
    """The ids of the item's parents (in order) and children, read once per page."""
    if "_links" not in item.__dict__:
        item.__dict__["_links"] = {
            "parents": parents_of([item.pk]).get(item.pk, []),
            "children": children_of([item.pk]).get(item.pk, []),
        }
    return item.__dict__["_links"]


def dependency_fieldset(item: QueueItem | None) -> tuple[Any, Any] | None:
    """The page's "Workflow and dependencies" section, for an item that has any of them."""
    if item is None:
        return None
    links = _links(item)
    if item.workflow_id is None and not links["parents"] and not links["children"]:
        return None
    return (_("Workflow and dependencies"), {"fields": DEPENDENCY_FIELDS})


def _item_links(ids: list[int], rest_url: str) -> SafeString:
    if not ids:
        return format_html('<span class="quiet">{}</span>', "—")
    shown = ids[:MAX_LINKS]
    found = QueueItem.all_objects.select_related("definition").in_bulk(shown)
    change = "admin:django_taskqueue_queueitem_change"
    links = format_html_join(
        "",
        '<li><a href="{}">#{} {}</a> {}</li>',
        (
            (reverse(change, args=[pk]), pk, found[pk].definition.alias, _badge(found[pk]))
            for pk in shown
            if pk in found
        ),
    )
    more = len(ids) - len(shown)
    rest = (
        format_html(
            '<li><a href="{}">{}</a></li>',
            rest_url,
            ngettext("and %(n)d more", "and %(n)d more", more) % {"n": more},
        )
        if more
        else ""
    )
    return format_html('<ul class="tq-links">{}{}</ul>', links, rest)


def _badge(item: QueueItem) -> SafeString:
    return status_badge(item.status, item.get_status_display())


# The lists the item page links to, by relation: ``?children__id__exact=ID`` (ID's parents)
# and ``?parents__id__exact=ID`` (its children).
RELATION_LOOKUPS = frozenset(f"{relation}__id__exact" for relation in ("children", "parents"))


class ItemDependenciesMixin:
    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        """Django 5.2.20 and later refuse filters across a reverse relation that no list
        filter names; these two are the item page's own links (a parent's or a child's id)."""
        if lookup in RELATION_LOOKUPS:
            return True
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    @admin.display(description=_("workflow"))
    def workflow_link(self, item: QueueItem) -> SafeString:
        if item.workflow_id is None:
            return format_html('<span class="quiet">{}</span>', "—")
        url = reverse("admin:django_taskqueue_workflow_change", args=[item.workflow_id])
        return format_html('<a href="{}">{}</a>', url, item.workflow)

    @admin.display(description=_("waits for"))
    def parents_links(self, item: QueueItem) -> SafeString:
        """Its parents in the order given, which is the order of ``parent_outputs``."""
        return _item_links(_links(item)["parents"], _filtered("children", item))

    @admin.display(description=_("waited for by"))
    def children_links(self, item: QueueItem) -> SafeString:
        return _item_links(_links(item)["children"], _filtered("parents", item))


def _filtered(relation: str, item: QueueItem) -> str:
    changelist = reverse("admin:django_taskqueue_queueitem_changelist")
    return f"{changelist}?{relation}__id__exact={item.pk}"
