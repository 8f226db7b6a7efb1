"""Queue items (one execution each) and the queries over them."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..exceptions import InvalidTransition
from ..validation import validate_run_at_bounds
from .definitions import TaskDefinition
from .fields import (
    ATTEMPTS_VALIDATORS,
    PRIORITY_VALIDATORS,
    AliveManager,
    name_field,
    tenant_field,
)
from .item_queries import QueueItemQuerySet


class QueueItem(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting for parents")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Success")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        PAUSED = "paused", _("Paused")

    FINISHED_STATUSES = (Status.SUCCESS, Status.FAILED, Status.CANCELED)

    class OnParentFailure(models.TextChoices):
        CANCEL = "cancel", _("cancel it")
        RUN = "run", _("run it anyway")

    # Columns the enqueue statement does not list get their value from ``db_default``, so the
    # one INSERT of store/ never names them and cannot forget a new one (store/base.py checks).
    definition = models.ForeignKey(
        TaskDefinition,
        on_delete=models.PROTECT,
        related_name="items",
        verbose_name=_("definition"),
        db_index=False,  # served by task_queue_def_due_idx, which leads with it
    )
    queue_name = name_field(_("queue"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.QUEUED,
        db_default=Status.QUEUED,
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    output = models.JSONField(_("output"), null=True, blank=True)
    details = models.TextField(_("details"), blank=True, default="", db_default="")
    last_error = models.TextField(
        _("last error"), blank=True, default="", db_default="", help_text=_("The traceback.")
    )
    last_error_class = models.CharField(
        _("last error class"), max_length=255, blank=True, default="", db_default=""
    )
    last_error_message = models.TextField(
        _("last error message"), blank=True, default="", db_default=""
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0, db_default=0)
    max_attempts = models.PositiveIntegerField(
        _("max attempts"), default=3, validators=ATTEMPTS_VALIDATORS
    )
    priority = models.IntegerField(
        _("priority"), default=0, help_text=_("Higher runs first."), validators=PRIORITY_VALIDATORS
    )
    run_at = models.DateTimeField(
        _("run at"), default=timezone.now, validators=[validate_run_at_bounds]
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    runner = models.ForeignKey(
        "Runner",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        verbose_name=_("held by runner"),
        db_index=False,  # task_queue_runner_idx holds only the items a runner holds
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False, db_default=False)
    # Unique items: the caller's key, kept for display; the definition's scope at enqueue time
    # (queued, active or period); and the claim, a copy of the key held while the item counts
    # against it, which a unique index makes race-free and each transition out of the scope
    # clears (store/uniqueness.py).
    # Flow control: the key whose own limits (the definition's key_*_limit) and turn in the
    # round-robin of claims this item takes part in.
    concurrency_key = models.CharField(
        _("concurrency key"), max_length=200, null=True, blank=True, editable=False
    )
    # The tenant it belongs to (tenants.py); set after the insert, only when one is given.
    tenant = tenant_field(editable=False)
    unique_key = models.CharField(
        _("unique key"), max_length=200, blank=True, default="", db_default=""
    )
    unique_scope = models.CharField(
        _("unique while"), max_length=8, blank=True, default="", db_default=""
    )
    unique_claim = models.CharField(max_length=200, null=True, blank=True, editable=False)

    # The schedule that fired it, and the fire time it was made for (one item per fire time).
    schedule = models.ForeignKey(
        "django_taskqueue.Schedule",
        verbose_name=_("schedule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        editable=False,
        db_index=False,  # served by task_queue_one_per_fire_time, which leads with it
    )
    scheduled_for = models.DateTimeField(_("fire time"), null=True, blank=True, editable=False)

    # Workflows: the graph it belongs to, the items it waits for (in the order given), and
    # what a parent that does not succeed means for it.
    workflow = models.ForeignKey(
        "django_taskqueue.Workflow",
        verbose_name=_("workflow"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="items",
        editable=False,
        db_index=False,  # served by task_queue_workflow_idx, which leads with it
    )
    parents = models.ManyToManyField(
        "self",
        through="django_taskqueue.ItemDependency",
        through_fields=("child", "parent"),
        symmetrical=False,
        related_name="children",
        blank=True,
        verbose_name=_("waits for"),
    )
    on_parent_failure = models.CharField(
        _("if a parent does not succeed"),
        max_length=8,
        choices=OnParentFailure.choices,
        default=OnParentFailure.CANCEL,
        db_default=OnParentFailure.CANCEL,
        editable=False,
    )
    # Where its final outcome is POSTed (empty: its definition's URL, if any).
    webhook_url = models.CharField(
        _("webhook URL"), max_length=2000, blank=True, default="", db_default="", editable=False
    )
    # Tracing (docs/tracing.md): the W3C trace context of the span that enqueued it, as the
    # carrier dict OpenTelemetry's propagator wrote ({"traceparent": ...}), so each attempt's
    # span links to it. Written only while tracing is on; the enqueue INSERT leaves it NULL.
    trace_context = models.JSONField(_("trace context"), null=True, blank=True, editable=False)

    objects = AliveManager.from_queryset(QueueItemQuerySet)()
    all_objects = QueueItemQuerySet.as_manager()

    # Set on what enqueue_by_alias(..., unique_key=...) returns when an item already held the
    # key: that item, not a new one.
    duplicate = False

    class Meta:
        db_table = "task_queue"
        verbose_name = _("queue item")
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["queue_name", "-priority", "run_at", "id"],
                condition=Q(status="queued", deleted_at__isnull=True),
                name="task_queue_claim_idx",
            ),
            # The claim's round-robin across concurrency keys reads only these rows.
            models.Index(
                fields=["queue_name", "-priority", "concurrency_key", "run_at", "id"],
                condition=Q(
                    status="queued", deleted_at__isnull=True, concurrency_key__isnull=False
                ),
                name="task_queue_keyed_idx",
            ),
            models.Index(fields=["queue_name", "status"], name="task_queue_queue_status_idx"),
            # Newest first within a queue, a status or a tenant: the admin's and the API's
            # filtered lists read these backwards instead of walking the primary key past
            # every newer item of other queues (docs/runners.md#big-tables).
            models.Index(fields=["queue_name", "id"], name="task_queue_queue_recent_idx"),
            models.Index(fields=["status", "id"], name="task_queue_status_recent_idx"),
            models.Index(
                fields=["tenant", "id"],
                condition=Q(tenant__isnull=False),
                name="task_queue_tenant_recent_idx",
            ),
            # Counts per definition and status, and the claim's look-up of which limited
            # definitions have items due on a runner's queues.
            models.Index(
                fields=["definition", "status", "queue_name", "run_at"],
                name="task_queue_def_due_idx",
            ),
            # Finished items only (retention, recent throughput): an item that has not
            # finished costs this index nothing.
            models.Index(
                fields=["status", "completed_at"],
                condition=Q(completed_at__isnull=False),
                name="task_queue_finished_idx",
            ),
            models.Index(fields=["created_at"], name="task_queue_created_idx"),
            models.Index(
                fields=["workflow", "status"],
                condition=Q(workflow__isnull=False),
                name="task_queue_workflow_idx",
            ),
            models.Index(
                fields=["runner"],
                condition=Q(runner__isnull=False),
                name="task_queue_runner_idx",
            ),
            # A tenant-bound API token's lists (newest first, by status) and the metrics'
            # counts per tenant read only the rows that have a tenant.
            models.Index(
                fields=["tenant", "status", "id"],
                condition=Q(tenant__isnull=False),
                name="task_queue_tenant_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "unique_claim"],
                condition=Q(unique_claim__isnull=False),
                name="task_queue_unique_claim",
            ),
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=Q(schedule__isnull=False),
                name="task_queue_one_per_fire_time",
            ),
        ]
        permissions = [
            ("cancel_queueitem", "Can cancel queue items"),
            ("requeue_queueitem", "Can requeue queue items"),
            ("pause_queueitem", "Can pause and resume queue items"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.definition.alias if self.definition_id else '?'} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.5) -> QueueItem:
        """Block until the item is finished (success, failed or canceled) and return it
        refreshed; ``TimeoutError`` after ``timeout`` seconds (None: no limit). A retry is
        not finished: this waits for the last attempt."""
        from ..awaiting import wait_until_finished

        wait_until_finished(self, str(self.pk), timeout, poll_seconds)
        return self

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

    # Operator actions on one item: the set-based store operations, applied to a set of one.
    def _apply(self, action: str) -> None:
        from ..actions import apply_action

        report = apply_action(
            action, QueueItem.all_objects.using(self._state.db).filter(pk=self.pk)
        )
        if self.pk in report.skipped:
            raise InvalidTransition(report.skipped[self.pk])
        self.refresh_from_db()

    def cancel(self) -> str:
        """Cancel now if waiting; ask the runner to stop it if running. Returns the new state."""
        self._apply("cancel")
        return "cancel requested" if self.status == self.Status.RUNNING else self.status

    def requeue(self) -> None:
        """Run again with a fresh attempt budget; earlier attempts stay in the history."""
        self._apply("requeue")

    def pause(self) -> None:
        self._apply("pause")

    def resume(self) -> None:
        self._apply("resume")

    def run_now(self) -> None:
        self._apply("run_now")

    def soft_delete(self) -> None:
        self._apply("soft_delete")

    def restore(self) -> None:
        self._apply("restore")
