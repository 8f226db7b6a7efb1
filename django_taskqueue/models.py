"""Task definitions, queue items, their attempt history, runners and queue state.

Query logic lives on the QuerySets; state changes that operators trigger are model methods
implemented as conditional UPDATEs, so they are safe against a runner touching the same row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .exceptions import InactiveDefinition, InvalidTransition, InvalidValue, UnknownAlias
from .validation import (
    MAX_ATTEMPTS,
    MAX_SECONDS,
    MIN_TIMEOUT_SECONDS,
    NAME_HELP,
    NAME_PATTERN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    check_max_attempts,
    check_priority,
    check_seconds,
    check_timeout,
    storable_text,
    validate_name,
    validate_run_at_bounds,
)


def _name_field(verbose_name: str, **kwargs: Any) -> models.CharField:
    return models.CharField(
        verbose_name,
        max_length=100,
        validators=[RegexValidator(NAME_PATTERN, f"Use {NAME_HELP}.")],
        **kwargs,
    )


# The rules of validation.py, as field validators, so model forms (the admin) keep them too.
PRIORITY_VALIDATORS = [MinValueValidator(PRIORITY_MIN), MaxValueValidator(PRIORITY_MAX)]
ATTEMPTS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(MAX_ATTEMPTS)]
SECONDS_VALIDATORS = [MinValueValidator(0), MaxValueValidator(MAX_SECONDS)]
TIMEOUT_VALIDATORS = [MinValueValidator(MIN_TIMEOUT_SECONDS), MaxValueValidator(MAX_SECONDS)]


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self) -> SoftDeleteQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> SoftDeleteQuerySet:
        return self.filter(deleted_at__isnull=False)

    def soft_delete(self) -> int:
        return self.filter(deleted_at__isnull=True).update(
            deleted_at=timezone.now(), updated_at=timezone.now()
        )

    def restore(self) -> int:
        return self.filter(deleted_at__isnull=False).update(
            deleted_at=None, updated_at=timezone.now()
        )


class AliveManager(models.Manager):
    """Default manager: soft-deleted rows are invisible unless asked for via ``all_objects``."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().alive()


# --------------------------------------------------------------------------- definitions


class TaskDefinitionQuerySet(SoftDeleteQuerySet):
    def for_alias(self, alias: str) -> TaskDefinition:
        """The definition row for ``alias``, created from the registered handler when missing.

        The handler's decorator arguments only seed a new row; once the row exists, what
        operators edit there wins.
        """
        from .registry import get_spec, registered_aliases

        if alias not in registered_aliases():
            raise UnknownAlias(alias, registered_aliases())
        definition = TaskDefinition.all_objects.filter(alias=alias).first()
        if definition is None:
            definition = TaskDefinition.create_from_spec(get_spec(alias))
        if definition.deleted_at is not None or not definition.is_active:
            raise InactiveDefinition(alias)
        return definition

    def delete(self) -> tuple[int, dict[str, int]]:
        """Definitions that still have items are soft-deleted; the others are removed."""
        has_items = Q(pk__in=QueueItem.all_objects.values("definition_id"))
        soft = self.filter(has_items).soft_delete()
        hard, per_model = models.QuerySet.delete(self.exclude(has_items))
        return hard + soft, per_model


class TaskDefinition(models.Model):
    alias = _name_field(_("alias"), unique=True)
    handler = models.CharField(
        _("handler"),
        max_length=255,
        blank=True,
        help_text=_(
            "Dotted path of the registered handler, for reference; code decides what runs."
        ),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    queue_name = _name_field(_("default queue"), default="default")
    priority = models.IntegerField(_("default priority"), default=0, validators=PRIORITY_VALIDATORS)
    max_attempts = models.PositiveIntegerField(
        _("max attempts"), default=3, validators=ATTEMPTS_VALIDATORS
    )
    retry_backoff_seconds = models.FloatField(
        _("retry backoff base (s)"), default=5, validators=SECONDS_VALIDATORS
    )
    retry_backoff_max_seconds = models.FloatField(
        _("retry backoff cap (s)"), default=3600, validators=SECONDS_VALIDATORS
    )
    timeout_seconds = models.FloatField(
        _("timeout (s)"), null=True, blank=True, validators=TIMEOUT_VALIDATORS
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True, editable=False)

    objects = AliveManager.from_queryset(TaskDefinitionQuerySet)()
    all_objects = TaskDefinitionQuerySet.as_manager()

    class Meta:
        ordering = ["alias"]
        verbose_name = _("task definition")
        permissions = [("enqueue_taskdefinition", "Can enqueue work for a task definition")]

    def __str__(self) -> str:
        return self.alias

    @staticmethod
    def fields_from_spec(spec: Any) -> dict[str, Any]:
        """The column values a handler's decorator arguments (and the settings) stand for."""
        backoff = spec.retry_backoff_seconds
        return {
            "handler": spec.path,
            "title": spec.title,
            "description": storable_text(spec.description)[0],
            "queue_name": validate_name(spec.queue or app_settings.DEFAULT_QUEUE, "queue name"),
            "priority": check_priority(spec.priority, InvalidValue),
            "max_attempts": check_max_attempts(
                spec.max_attempts or app_settings.DEFAULT_MAX_ATTEMPTS
            ),
            "retry_backoff_seconds": check_seconds(
                app_settings.DEFAULT_RETRY_BACKOFF_SECONDS if backoff is None else backoff,
                "retry_backoff_seconds",
            ),
            "retry_backoff_max_seconds": check_seconds(
                app_settings.DEFAULT_RETRY_BACKOFF_MAX_SECONDS, "DEFAULT_RETRY_BACKOFF_MAX_SECONDS"
            ),
            "timeout_seconds": check_timeout(
                spec.timeout_seconds or app_settings.DEFAULT_TIMEOUT_SECONDS
            ),
        }

    @classmethod
    def create_from_spec(cls, spec: Any) -> TaskDefinition:
        try:
            with transaction.atomic():
                return cls.all_objects.create(alias=spec.alias, **cls.fields_from_spec(spec))
        except IntegrityError:  # another process created it first
            return cls.all_objects.get(alias=spec.alias)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if QueueItem.all_objects.filter(definition=self).exists():
            self.soft_delete()
            return 1, {self._meta.label: 1}
        return super().delete(*args, **kwargs)

    def soft_delete(self) -> None:
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])


# --------------------------------------------------------------------------- queue items


class QueueItemQuerySet(SoftDeleteQuerySet):
    def matching(
        self, status: str | None = None, queue_name: str | None = None, alias: str | None = None
    ) -> QueueItemQuerySet:
        """Items with the given status, queue and alias (None: any), newest first.

        The filter operators use from the CLI and the HTTP API alike.
        """
        items = self
        if status is not None:
            items = items.filter(status=status)
        if queue_name is not None:
            items = items.filter(queue_name=queue_name)
        if alias is not None:
            items = items.filter(definition__alias=alias)
        return items.order_by("-id")

    def finished(self) -> QueueItemQuerySet:
        return self.filter(status__in=QueueItem.FINISHED_STATUSES)

    def stuck(self, cutoff: Any) -> QueueItemQuerySet:
        """Running items whose runner stopped heartbeating before ``cutoff``."""
        return self.filter(status=QueueItem.Status.RUNNING).filter(
            Q(runner__isnull=True, started_at__lt=cutoff)
            | Q(runner__heartbeat_at__lt=cutoff)
            | Q(runner__stopped_at__isnull=False)
        )

    def counts_by_queue_and_status(self) -> dict[str, dict[str, int]]:
        rows = self.values("queue_name", "status").annotate(n=Count("id")).order_by()
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            per_status = result.setdefault(
                row["queue_name"], {status: 0 for status in QueueItem.Status.values}
            )
            per_status[row["status"]] = row["n"]
        return dict(sorted(result.items()))


class QueueItem(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCESS = "success", _("Success")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        PAUSED = "paused", _("Paused")

    FINISHED_STATUSES = (Status.SUCCESS, Status.FAILED, Status.CANCELED)

    definition = models.ForeignKey(
        TaskDefinition,
        on_delete=models.PROTECT,
        related_name="items",
        verbose_name=_("definition"),
        db_index=False,  # served by task_queue_def_status_idx, which leads with it
    )
    queue_name = _name_field(_("queue"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    output = models.JSONField(_("output"), null=True, blank=True)
    details = models.TextField(_("details"), blank=True, default="")
    last_error = models.TextField(_("last error"), blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
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
    )
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)

    objects = AliveManager.from_queryset(QueueItemQuerySet)()
    all_objects = QueueItemQuerySet.as_manager()

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
            models.Index(fields=["queue_name", "status"], name="task_queue_queue_status_idx"),
            models.Index(fields=["definition", "status"], name="task_queue_def_status_idx"),
            models.Index(fields=["status", "completed_at"], name="task_queue_finished_idx"),
            models.Index(fields=["created_at"], name="task_queue_created_idx"),
        ]
        permissions = [
            ("cancel_queueitem", "Can cancel queue items"),
            ("requeue_queueitem", "Can requeue queue items"),
            ("pause_queueitem", "Can pause and resume queue items"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.definition.alias if self.definition_id else '?'} [{self.status}]"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

    # Operator actions. Each is one conditional UPDATE so it cannot race a runner's claim.
    def _transition(self, allowed: tuple[str, ...], action: str, **changes: Any) -> None:
        changes["updated_at"] = timezone.now()
        updated = QueueItem.all_objects.filter(pk=self.pk, status__in=allowed).update(**changes)
        if not updated:
            current = (
                QueueItem.all_objects.filter(pk=self.pk).values_list("status", flat=True).first()
            )
            raise InvalidTransition(f"Cannot {action} item #{self.pk}: it is {current}.")
        self.refresh_from_db()

    def cancel(self) -> str:
        """Cancel now if waiting; ask the runner to stop it if running. Returns the new state."""
        if self.status == self.Status.RUNNING:
            self._transition((self.Status.RUNNING,), "cancel", cancel_requested=True)
            return "cancel requested"
        self._transition(
            (self.Status.QUEUED, self.Status.PAUSED),
            "cancel",
            status=self.Status.CANCELED,
            completed_at=timezone.now(),
        )
        return self.Status.CANCELED

    def requeue(self) -> None:
        """Run again with a fresh attempt budget; earlier attempts stay in the history."""
        self._transition(
            self.FINISHED_STATUSES,
            "requeue",
            status=self.Status.QUEUED,
            attempts=0,
            run_at=timezone.now(),
            started_at=None,
            completed_at=None,
            output=None,
            cancel_requested=False,
        )
        from .notify import wake_runners

        wake_runners([self.queue_name])

    def pause(self) -> None:
        self._transition((self.Status.QUEUED,), "pause", status=self.Status.PAUSED)

    def resume(self) -> None:
        self._transition((self.Status.PAUSED,), "resume", status=self.Status.QUEUED)
        from .notify import wake_runners

        wake_runners([self.queue_name])

    def run_now(self) -> None:
        self._transition(
            (self.Status.QUEUED, self.Status.PAUSED),
            "run now",
            status=self.Status.QUEUED,
            run_at=timezone.now(),
        )
        from .notify import wake_runners

        wake_runners([self.queue_name])

    def soft_delete(self) -> None:
        allowed = tuple(s for s in self.Status.values if s != self.Status.RUNNING)
        self._transition(allowed, "delete (cancel it first)", deleted_at=timezone.now())

    def restore(self) -> None:
        self._transition(tuple(self.Status.values), "restore", deleted_at=None)


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
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        ordering = ["item", "finished_at", "id"]
        verbose_name = _("attempt")


# --------------------------------------------------------------------------- runners, queues


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


class QueueStateQuerySet(models.QuerySet):
    def paused_names(self, queues: list[str]) -> set[str]:
        return set(self.filter(name__in=queues, is_paused=True).values_list("name", flat=True))

    def set_paused(self, name: str, paused: bool) -> None:
        validate_name(name, "queue name")
        self.update_or_create(name=name, defaults={"is_paused": bool(paused)})
        if not paused:
            from .notify import wake_runners

            wake_runners([name])


class QueueState(models.Model):
    """Per-queue switches. A paused queue keeps its items but runners stop claiming from it."""

    name = _name_field(_("queue"), primary_key=True)
    is_paused = models.BooleanField(_("paused"), default=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = QueueStateQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("queue")

    def __str__(self) -> str:
        return self.name
