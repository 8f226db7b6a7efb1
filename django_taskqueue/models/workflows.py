"""Workflows (a graph of items enqueued together) and the dependencies between items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import tenant_field

if TYPE_CHECKING:
    from ..actions import ActionReport
    from ..audit import Actor


class StatusCounts(dict[str, int]):
    """Items per status. Calling it returns it, so ``workflow.counts`` and
    ``workflow.counts()`` read the same."""

    def __call__(self) -> StatusCounts:
        return self


class Workflow(models.Model):
    """Steps enqueued as one graph by ``enqueue_workflow``; its status follows its items.

    ``running`` while any item is unfinished; once all are finished, ``success`` if all
    succeeded, ``failed`` if any failed, else ``canceled``. Requeueing a failed step makes it
    ``running`` again, and the steps canceled because of that failure wait again.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Success")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")

    FINISHED_STATUSES = (Status.SUCCESS, Status.FAILED, Status.CANCELED)

    name = models.CharField(_("name"), max_length=200, blank=True, default="", db_default="")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.RUNNING,
        db_default=Status.RUNNING,
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # Every step's tenant too: a workflow belongs to one tenant or to none.
    tenant = tenant_field(editable=False)

    class Meta:
        db_table = "task_queue_workflow"
        verbose_name = _("workflow")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="task_queue_wf_status_idx"),
            models.Index(
                fields=["tenant", "id"],
                condition=Q(tenant__isnull=False),
                name="task_queue_wf_tenant_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"workflow #{self.pk}{' ' + self.name if self.name else ''} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES

    @property
    def counts(self) -> StatusCounts:
        """How many of its items are in each item status (every status, zeros included)."""
        from .items import QueueItem

        counts = StatusCounts({status: 0 for status in QueueItem.Status.values})
        rows = (
            QueueItem.all_objects.using(self._state.db)
            .filter(workflow=self)
            .values_list("status")
            .annotate(n=models.Count("id"))
            .order_by()
        )
        counts.update(dict(rows))
        return counts

    def cancel(self, actor: Actor | None = None) -> ActionReport:
        """Cancel every unfinished item: waiting ones at once, running ones at their runner.
        With an ``actor`` (a user), each item's History says who did it."""
        from ..actions import apply_action
        from .items import QueueItem

        unfinished = QueueItem.all_objects.using(self._state.db).filter(workflow=self)
        report = apply_action(
            "cancel", unfinished.exclude(status__in=QueueItem.FINISHED_STATUSES), actor=actor
        )
        self.refresh_from_db()
        return report

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.5) -> Workflow:
        """Block until the workflow is finished and return it refreshed; ``TimeoutError``
        after ``timeout`` seconds (None: no limit)."""
        from ..awaiting import wait_until_finished

        wait_until_finished(self, f"w{self.pk}", timeout, poll_seconds)
        return self


class ItemDependency(models.Model):
    """``child`` waits for ``parent``; ``position`` keeps the order the parents were given
    in, which ``current_task().parent_outputs`` follows.

    ``parent_status`` is the parent's final status once it has one (None while it is
    unfinished), copied by the store in the transaction that finishes the parent. Judging a
    child then takes two index probes (is a parent open? did one fail?) instead of reading
    every parent, which matters for a fan-in of thousands.
    """

    child = models.ForeignKey(
        "django_taskqueue.QueueItem",
        on_delete=models.CASCADE,
        related_name="parent_links",
        db_index=False,  # served by the unique constraints, which lead with it
    )
    parent = models.ForeignKey(
        "django_taskqueue.QueueItem", on_delete=models.CASCADE, related_name="child_links"
    )
    position = models.PositiveIntegerField()
    parent_status = models.CharField(max_length=16, null=True, blank=True)

    class Meta:
        db_table = "task_queue_dependency"
        verbose_name = _("dependency")
        ordering = ["child", "position"]
        indexes = [
            models.Index(
                fields=["child"],
                condition=models.Q(parent_status__isnull=True),
                name="task_queue_dep_open_idx",
            ),
            models.Index(
                fields=["child", "parent"],
                condition=models.Q(parent_status__in=["failed", "canceled"]),
                name="task_queue_dep_bad_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["child", "position"], name="task_queue_dep_position"),
            models.UniqueConstraint(fields=["child", "parent"], name="task_queue_dep_once"),
        ]

    def __str__(self) -> str:
        return f"#{self.child_id} after #{self.parent_id}"
