"""The delivery log of result webhooks: one row per HTTP attempt to tell a receiver."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class WebhookDelivery(models.Model):
    """One POST of an item's final outcome to its webhook URL.

    ``item`` is the item reported on; ``delivery_item`` is the item of the webhooks queue that
    made the attempt (a delivery is queue work, with its retries and backoff).
    """

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        RETRY = "retry", _("Failed, will retry")
        FAILED = "failed", _("Failed")
        REFUSED = "refused", _("Refused before sending")

    item = models.ForeignKey(
        "django_taskqueue.QueueItem",
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        verbose_name=_("item"),
    )
    delivery_item = models.ForeignKey(
        "django_taskqueue.QueueItem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("delivery item"),
    )
    url = models.CharField(_("URL"), max_length=2000)
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    attempted_at = models.DateTimeField(_("attempted"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)

    class Meta:
        db_table = "task_queue_webhook_delivery"
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["item", "attempted_at", "id"]

    def __str__(self) -> str:
        return f"#{self.item_id} → {self.url} [{self.outcome}]"
