"""Schedules: periodic items that operators can see and edit, fired by every runner."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone as clock
from django.utils.translation import gettext_lazy as _

from ..schedules.checks import FIELDS, MAX_CATCH_UP, InvalidSchedule, check_schedule
from ..schedules.timing import Timing, describe
from .fields import PRIORITY_VALIDATORS, name_field, tenant_field

TIMING_FIELDS = ("cron", "interval_seconds", "timezone", "start_at", "end_at")


class Schedule(models.Model):
    """Fires an item of ``alias`` at each time of its cron expression or interval.

    ``next_fire_at`` is the next time a runner fires it; every runner looks, and a database
    constraint on the item's (schedule, fire time) makes one item per fire time however many
    runners look at once. See docs/schedules.md.
    """

    class Misfire(models.TextChoices):
        SKIP = "skip", _("skip: fire only times on time")
        ONCE = "once", _("once: one catch-up item for the missed times")
        ALL = "all", _("all: every missed time, up to max_catch_up")

    name = models.CharField(_("name"), max_length=100, unique=True)
    alias = models.CharField(_("task alias"), max_length=100)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    queue_name = name_field(_("queue"), blank=True, help_text=_("Blank: the definition's."))
    priority = models.IntegerField(
        _("priority"),
        null=True,
        blank=True,
        validators=PRIORITY_VALIDATORS,
        help_text=_("Blank: the definition's."),
    )
    cron = models.CharField(
        _("cron"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("Five fields (minute hour day month weekday), or six with seconds first."),
    )
    interval_seconds = models.PositiveIntegerField(
        _("interval (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Instead of cron: fire every so many seconds."),
    )
    timezone = models.CharField(
        _("timezone"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("IANA name, such as Europe/Berlin. Blank: the project's TIME_ZONE."),
    )
    tenant = tenant_field(help_text=_("The tenant of the items it fires. Blank: none."))
    enabled = models.BooleanField(_("enabled"), default=True)
    start_at = models.DateTimeField(_("start at"), null=True, blank=True)
    end_at = models.DateTimeField(_("end at"), null=True, blank=True)
    misfire = models.CharField(
        _("after downtime"), max_length=4, choices=Misfire.choices, default=Misfire.ONCE
    )
    max_catch_up = models.PositiveIntegerField(
        _("most catch-up items"),
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CATCH_UP)],
        help_text=_("With 'all': at most this many missed times fire."),
    )
    next_fire_at = models.DateTimeField(_("next fire"), null=True, blank=True, editable=False)
    last_fired_at = models.DateTimeField(_("last fired"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, default="", editable=False)
    created_at = models.DateTimeField(_("created"), default=clock.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("schedule")
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_fire_at"], name="taskqueue_schedule_due")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(interval_seconds__isnull=True) & ~Q(cron=""))
                | (Q(interval_seconds__isnull=False) & Q(cron="")),
                name="taskqueue_schedule_cron_or_interval",
            ),
        ]
        permissions = [("fire_schedule", "Can fire schedules now")]

    def __str__(self) -> str:
        return self.name

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The timing as loaded: a save that changes it works out next_fire_at afresh.
        self._loaded = self._timing_values() if self.pk else None

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Work out ``next_fire_at`` afresh when the timing changed, or on being enabled: a
        schedule starts from now, it does not catch up on the time it was off."""
        if getattr(self, "_loaded", None) != self._timing_values() or self.next_fire_at is None:
            self.next_fire_at = self.timing().next_after(clock.now()) if self.enabled else None
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "next_fire_at"}
        super().save(*args, **kwargs)
        self._loaded = self._timing_values()

    def _timing_values(self) -> tuple[Any, ...]:
        return (*(getattr(self, name) for name in TIMING_FIELDS), self.enabled)

    @property
    def zone_name(self) -> str:
        return self.timezone or settings.TIME_ZONE or "UTC"

    def timing(self) -> Timing:
        return Timing(
            self.cron,
            self.interval_seconds,
            self.zone_name,
            anchor=self.created_at,
            start_at=self.start_at,
            end_at=self.end_at,
        )

    @property
    def description(self) -> str:
        return describe(self.timing())

    def upcoming(self, count: int = 5, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` fire times after ``after`` (default: now)."""
        times = self.timing().times_after(after or clock.now())
        return [time for time, _ in zip(times, range(count), strict=False)]

    def clean(self) -> None:
        try:
            checked = check_schedule({name: getattr(self, name) for name in FIELDS})
        except InvalidSchedule as exc:
            message = str(exc).removeprefix(f"{exc.field}: ")
            raise ValidationError(
                {exc.field if exc.field in FIELDS else "__all__": message}
            ) from None
        for name, value in checked.items():
            setattr(self, name, value)
