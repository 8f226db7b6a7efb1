"""Runner processes and per-queue switches."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..limits import rate_limit_field
from .fields import concurrency_limit_field, name_field


class RunnerQuerySet(models.QuerySet):
    def live(self, stale_after_seconds: float | None = None) -> RunnerQuerySet:
        stale = stale_after_seconds or app_settings.RUNNER_HEARTBEAT_SECONDS * 3
        return self.filter(
            stopped_at__isnull=True, heartbeat_at__gte=timezone.now() - timedelta(seconds=stale)
        )


class Runner(models.Model):
    """A ``runqueue`` process. It heartbeats this row; stale rows mean a dead runner."""

    id = models.CharField(primary_key=True, max_length=64)
    hostname = models.CharField(_("host"), max_length=255)
    pid = models.PositiveIntegerField(_("pid"))
    queues = models.JSONField(_("queues"), default=list)
    concurrency = models.PositiveIntegerField(_("concurrency"))
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), default=timezone.now)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)

    objects = RunnerQuerySet.as_manager()

    class Meta:
        ordering = ["-heartbeat_at"]
        verbose_name = _("runner")

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class QueueState(models.Model):
    """Per-queue switches and limits. A paused queue keeps its items but runners stop claiming
    from it; its limits count all of its items, of every definition."""

    name = name_field(_("queue"), primary_key=True)
    is_paused = models.BooleanField(_("paused"), default=False)
    concurrency_limit = concurrency_limit_field(
        _("concurrency limit"),
        _("At most this many of its items running at once, across all runners."),
    )
    rate_limit = rate_limit_field(
        _("rate limit"), _('At most N starts in any sliding window: "20/s", "100/m", "1000/h".')
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("queue")

    def __str__(self) -> str:
        return self.name


class LimitStart(models.Model):
    """The attempts one claim started that a rate limit counts: the ledger of its window.

    Written by the claim only for rate-limited definitions, queues and keys (one row per limit
    per claim, with the number of starts), and pruned by the runners once older than the
    longest window. ``scope`` says which limit: ``definition:ID``, ``queue:NAME`` or
    ``key:ID:KEY``.
    """

    scope = models.CharField(_("limit"), max_length=320)
    started_at = models.DateTimeField(_("started"))
    count = models.PositiveIntegerField(_("starts"), default=1)

    class Meta:
        verbose_name = _("rate-limited start")
        indexes = [models.Index(fields=["scope", "started_at"], name="task_queue_start_idx")]

    def __str__(self) -> str:
        return f"{self.count} start(s) of {self.scope} at {self.started_at:%H:%M:%S.%f}"
