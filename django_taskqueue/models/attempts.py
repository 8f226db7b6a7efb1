"""The attempt history: one row per run of an item, kept across retries and requeues."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .definitions import TaskDefinition
from .items import QueueItem


class QueueItemAttempt(models.Model):
    """One run of an item, kept so requeues and retries do not erase what happened."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        RETRY = "retry", _("Failed, will retry")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        TIMEOUT = "timeout", _("Timed out")
        LOST = "lost", _("Runner lost")

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField(_("attempt"))
    runner_name = models.CharField(_("runner"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started"), null=True)
    finished_at = models.DateTimeField(_("finished"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    error = models.TextField(_("error"), blank=True, default="", help_text=_("The traceback."))
    error_class = models.CharField(
        _("error class"), max_length=255, blank=True, default="", db_default=""
    )
    error_message = models.TextField(_("error message"), blank=True, default="", db_default="")
    # Copies of the item's queue, definition and enqueue time, written with the attempt, so
    # the run-time and wait histograms of /metrics read the recent attempts alone: their
    # items' rows lie scattered over a big table. NULL on attempts recorded before 0017.
    queue_name = models.CharField(_("queue"), max_length=100, null=True, editable=False)
    definition = models.ForeignKey(
        TaskDefinition,
        on_delete=models.DO_NOTHING,  # its items protect it, and attempts go with them
        db_constraint=False,
        db_index=False,
        null=True,
        editable=False,
        related_name="+",
        verbose_name=_("definition"),
    )
    enqueued_at = models.DateTimeField(_("enqueued"), null=True, editable=False)

    class Meta:
        ordering = ["item", "finished_at", "id"]
        verbose_name = _("attempt")
        # Recent attempts, for the run-time and wait histograms of /metrics.
        indexes = [models.Index(fields=["finished_at"], name="task_queue_attempt_done_idx")]
