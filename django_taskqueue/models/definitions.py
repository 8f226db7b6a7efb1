"""Task definitions: one row per alias, holding the defaults operators can edit."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..exceptions import InactiveDefinition, InvalidValue, UnknownAlias
from ..limits import check_rate_limit, rate_limit_field
from ..validation import (
    check_max_attempts,
    check_priority,
    check_seconds,
    check_timeout,
    storable_text,
    validate_name,
)
from .fields import (
    ATTEMPTS_VALIDATORS,
    PRIORITY_VALIDATORS,
    SECONDS_VALIDATORS,
    TIMEOUT_VALIDATORS,
    AliveManager,
    SoftDeleteQuerySet,
    concurrency_limit_field,
    name_field,
)


class TaskDefinitionQuerySet(SoftDeleteQuerySet):
    def for_alias(self, alias: str) -> TaskDefinition:
        """The definition row for ``alias``, created from the registered handler when missing.

        The handler's decorator arguments only seed a new row; once the row exists, what
        operators edit there wins.
        """
        from ..registry import get_spec, registered_aliases

        if alias not in registered_aliases():
            raise UnknownAlias(alias, registered_aliases())
        definition = TaskDefinition.all_objects.using(self.db).filter(alias=alias).first()
        if definition is None:
            definition = TaskDefinition.create_from_spec(get_spec(alias), using=self.db)
        if definition.deleted_at is not None or not definition.is_active:
            raise InactiveDefinition(alias)
        return definition

    def delete(self) -> tuple[int, dict[str, int]]:
        """Definitions that still have items are soft-deleted; the others are removed."""
        from .items import QueueItem

        has_items = Q(pk__in=QueueItem.all_objects.using(self.db).values("definition_id"))
        now = timezone.now()
        soft = self.filter(has_items, deleted_at__isnull=True).update(
            deleted_at=now, updated_at=now
        )
        hard, per_model = models.QuerySet.delete(self.exclude(has_items))
        return hard + soft, per_model


class TaskDefinition(models.Model):
    alias = name_field(_("alias"), unique=True)
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
    queue_name = name_field(_("default queue"), default="default")
    priority = models.IntegerField(_("default priority"), default=0, validators=PRIORITY_VALIDATORS)
    max_attempts = models.PositiveIntegerField(
        _("max attempts"), default=3, validators=ATTEMPTS_VALIDATORS
    )

    class Backoff(models.TextChoices):
        EXPONENTIAL = "exponential", _("exponential: base × 2^(attempt − 1)")
        LINEAR = "linear", _("linear: base × attempt")
        CONSTANT = "constant", _("constant: base")
        CODE = "code", _("the handler's backoff function")

    retry_backoff = models.CharField(
        _("retry backoff"),
        max_length=16,
        choices=Backoff.choices,
        default=Backoff.EXPONENTIAL,
        help_text=_("How the wait before a retry grows; capped, with up to 25% jitter."),
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

    concurrency_limit = concurrency_limit_field(
        _("concurrency limit"),
        _("At most this many of its items running at once, across all runners."),
    )
    rate_limit = rate_limit_field(
        _("rate limit"), _('At most N starts in any sliding window: "20/s", "100/m", "1000/h".')
    )
    key_concurrency_limit = concurrency_limit_field(
        _("key concurrency limit"),
        _("At most this many running at once per concurrency key (1: one at a time)."),
    )
    key_rate_limit = rate_limit_field(
        _("key rate limit"), _('At most N starts per concurrency key in any window: "2/s".')
    )

    class UniqueWhile(models.TextChoices):
        QUEUED = "queued", _("queued: one waiting item per key")
        ACTIVE = "active", _("active: one waiting or running item per key")

    unique_while = models.CharField(
        _("unique while"),
        max_length=8,
        choices=UniqueWhile.choices,
        default=UniqueWhile.QUEUED,
        help_text=_("For items enqueued with a unique_key; unique for, when set, wins."),
    )
    unique_for_seconds = models.FloatField(
        _("unique for (s)"),
        null=True,
        blank=True,
        validators=SECONDS_VALIDATORS,
        help_text=_("One item per key created within this many seconds, whatever its status."),
    )
    webhook_url = models.CharField(
        _("webhook URL"),
        max_length=2000,
        blank=True,
        default="",
        db_default="",
        help_text=_("Each item's final outcome is POSTed here (signed), unless it names its own."),
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
            "retry_backoff": spec.backoff,
            "retry_backoff_max_seconds": check_seconds(
                app_settings.DEFAULT_RETRY_BACKOFF_MAX_SECONDS
                if spec.max_backoff_seconds is None
                else spec.max_backoff_seconds,
                "retry_backoff_max_seconds",
            ),
            "timeout_seconds": check_timeout(
                spec.timeout_seconds or app_settings.DEFAULT_TIMEOUT_SECONDS
            ),
            "concurrency_limit": spec.concurrency_limit,
            "rate_limit": check_rate_limit(spec.rate_limit),
            "key_concurrency_limit": spec.key_concurrency_limit,
            "key_rate_limit": check_rate_limit(spec.key_rate_limit, "key_rate_limit"),
            "unique_while": spec.unique_while,
            "unique_for_seconds": spec.unique_for_seconds,
            "webhook_url": spec.webhook_url,
        }

    @classmethod
    def create_from_spec(cls, spec: Any, using: str | None = None) -> TaskDefinition:
        rows = cls.all_objects.db_manager(using)
        try:
            with transaction.atomic(using=rows.db):
                return rows.create(alias=spec.alias, **cls.fields_from_spec(spec))
        except IntegrityError:  # another process created it first
            return rows.get(alias=spec.alias)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        from .items import QueueItem

        if QueueItem.all_objects.using(self._state.db).filter(definition=self).exists():
            self.soft_delete()
            return 1, {self._meta.label: 1}
        return super().delete(*args, **kwargs)

    def soft_delete(self) -> None:
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])
