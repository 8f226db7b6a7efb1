"""The operator actions on queue items: bulk actions on the change list, buttons on an item's page.

Both doors call ``actions.apply_action`` (the store's guarded transition plus an audit entry in
the item's History) and check the same ``has_<verb>_permission`` of ``QueueItemAdmin``. A
button is offered only while its action applies to the item; a stale or forged one is answered
with the reason the action was skipped, like a change-list action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from django.utils.translation import gettext_lazy as _

from ..actions import DESCRIPTION, REQUIRED_PERMISSION, ActionReport, apply_action
from ..audit import Actor
from ..models import QueueItem
from ..store import get_store

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

    AdminBase = admin.ModelAdmin
else:
    AdminBase = object

# The buttons of an item's page, in the order shown.
ITEM_BUTTONS: tuple[tuple[str, str | _StrPromise], ...] = (
    ("requeue", _("Requeue")),
    ("run_now", _("Run now")),
    ("pause", _("Pause")),
    ("resume", _("Resume")),
    ("cancel", _("Cancel")),
    ("soft_delete", _("Delete")),
    ("restore", _("Restore")),
)


def permission_verb(action: str) -> str:
    """``run_now`` needs ``requeue_queueitem``: the admin asks ``has_requeue_permission``."""
    return REQUIRED_PERMISSION[action].split(".", 1)[1].removesuffix("_queueitem")


def bulk_action(name: str, description: str | _StrPromise) -> Callable[..., None]:
    """A change-list action running ``apply_action(name)``, offered only with its permission."""

    def action(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        report = apply_action(name, queryset, actor=Actor(request.user, "admin"))
        level = messages.WARNING if report.skipped else messages.SUCCESS
        model_admin.message_user(request, report.summary(), level)

    action.__name__ = name
    return admin.action(description=description, permissions=[permission_verb(name)])(action)


class ItemButtonsMixin(AdminBase):
    """The action buttons of ``QueueItemAdmin``'s change page and the view they post to."""

    def get_urls(self) -> list[Any]:
        act = path(
            "<path:object_id>/act/",
            self.admin_site.admin_view(self.item_action_view),
            name="django_taskqueue_queueitem_act",
        )
        return [act, *super().get_urls()]

    def may_apply(self, request: HttpRequest, action: str) -> bool:
        return bool(getattr(self, f"has_{permission_verb(action)}_permission")(request))

    def item_buttons(self, request: HttpRequest, item: QueueItem) -> list[tuple[str, Any]]:
        """``(action, label)`` for each action the user may take that applies to ``item``."""
        applicable = get_store().applicable_actions(item.pk)
        return [
            (action, label)
            for action, label in ITEM_BUTTONS
            if action in applicable and self.may_apply(request, action)
        ]

    def item_action_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Apply the posted ``action`` to one item and return to its page with the outcome."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        item = self.get_object(request, unquote(object_id))
        if item is None:
            raise Http404(_("There is no queue item with id %(id)s.") % {"id": object_id})
        if not self.has_view_permission(request, item):
            raise PermissionDenied
        page = reverse("admin:django_taskqueue_queueitem_change", args=[item.pk])
        action = request.POST.get("action", "")
        if action not in dict(ITEM_BUTTONS):
            self.message_user(request, _("Unknown action."), messages.ERROR)
            return HttpResponseRedirect(page)
        if not self.may_apply(request, action):
            raise PermissionDenied
        report = apply_action(action, [item.pk], actor=Actor(request.user, "admin"))
        self._report_on_one(request, item.pk, report)
        return HttpResponseRedirect(page)

    def _report_on_one(self, request: HttpRequest, item_id: int, report: ActionReport) -> None:
        if item_id in report.skipped:
            self.message_user(request, report.skipped[item_id], messages.ERROR)
        else:
            what = DESCRIPTION[report.action]
            self.message_user(request, f"Item #{item_id}: {what}.", messages.SUCCESS)
