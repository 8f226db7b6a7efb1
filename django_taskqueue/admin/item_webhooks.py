"""The webhook section of a queue item's page: where its outcome is POSTed, and the log of
every attempt to deliver it, each linked to the item of the webhooks queue that made it.

Shown only on the pages it concerns: an item with a webhook URL (its own or its
definition's) or one whose outcome was delivered before its URL was removed; and on a
delivery's own page, the link back to the item it reports on.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..models import QueueItem
from ..webhooks.payloads import WEBHOOK_ALIAS

REPORTED_ITEM_FIELDS = ("webhook_reported_item",)
WEBHOOK_FIELDS = ("webhook_target", "webhook_log")
# The status colours the outcomes borrow: green, blue (to be tried again), red, grey.
OUTCOME_BADGES = {
    "delivered": "success",
    "retry": "queued",
    "failed": "failed",
    "refused": "canceled",
}


def webhook_fieldset(item: QueueItem | None) -> tuple[Any, Any] | None:
    """The section to add to ``item``'s page, if any."""
    if item is None:
        return None
    if item.definition.alias == WEBHOOK_ALIAS:
        return (_("Webhook delivery"), {"fields": REPORTED_ITEM_FIELDS})
    if item.webhook_url or item.definition.webhook_url or item.webhook_deliveries.exists():
        return (_("Webhook"), {"fields": WEBHOOK_FIELDS})
    return None


class ItemWebhooksMixin:
    @admin.display(description=_("webhook URL"))
    def webhook_target(self, item: QueueItem) -> str:
        """The URL its outcome goes to, and whose it is: an item's own wins."""
        if item.webhook_url:
            url, whose = item.webhook_url, _("the item's")
        else:
            url, whose = item.definition.webhook_url, _("the definition's")
        if not url:
            return "—"
        return format_html('{} <span class="quiet">({})</span>', url, whose)

    @admin.display(description=_("deliveries"))
    def webhook_log(self, item: QueueItem) -> str:
        """Every attempt to tell the receiver, oldest first (one query)."""
        deliveries = [
            (delivery, OUTCOME_BADGES.get(delivery.outcome, "canceled"))
            for delivery in item.webhook_deliveries.order_by("attempted_at", "id")
        ]
        return render_to_string(
            "admin/django_taskqueue/queueitem/webhook_log.html",
            {
                "deliveries": deliveries,
                "finished": item.status in QueueItem.FINISHED_STATUSES,
                "queue": app_settings.WEBHOOK_QUEUE,
            },
        )

    @admin.display(description=_("reports on"))
    def webhook_reported_item(self, item: QueueItem) -> str:
        reported = (item.parameters or {}).get("item_id")
        if not isinstance(reported, int):
            return "—"
        url = reverse("admin:django_taskqueue_queueitem_change", args=[reported])
        return format_html('<a href="{}">#{}</a>', url, reported)
