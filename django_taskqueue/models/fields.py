"""Pieces the models share: name fields, the validators behind validation.py's rules, and
soft deletion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

from ..validation import (
    MAX_ATTEMPTS,
    MAX_CONCURRENCY_LIMIT,
    MAX_SECONDS,
    MIN_TIMEOUT_SECONDS,
    NAME_HELP,
    NAME_PATTERN,
    PRIORITY_MAX,
    PRIORITY_MIN,
)


def name_field(verbose_name: str | _StrPromise, **kwargs: Any) -> models.CharField:
    return models.CharField(
        verbose_name,
        max_length=100,
        validators=[RegexValidator(NAME_PATTERN, f"Use {NAME_HELP}.")],
        **kwargs,
    )


def tenant_field(**kwargs: Any) -> models.CharField:
    """The optional tenant of an item, a workflow or a schedule (``tenants.py``): NULL for
    none, so the partial indexes on it hold only rows that have one."""
    return name_field(_("tenant"), null=True, blank=True, **kwargs)


# The rules of validation.py, as field validators, so model forms (the admin) keep them too.
PRIORITY_VALIDATORS = [MinValueValidator(PRIORITY_MIN), MaxValueValidator(PRIORITY_MAX)]
ATTEMPTS_VALIDATORS = [MinValueValidator(1), MaxValueValidator(MAX_ATTEMPTS)]
CONCURRENCY_LIMIT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(MAX_CONCURRENCY_LIMIT)]
SECONDS_VALIDATORS = [MinValueValidator(0), MaxValueValidator(MAX_SECONDS)]
TIMEOUT_VALIDATORS = [MinValueValidator(MIN_TIMEOUT_SECONDS), MaxValueValidator(MAX_SECONDS)]


def concurrency_limit_field(verbose_name: Any, help_text: Any) -> models.PositiveIntegerField:
    """A limit on items running at once; empty: none."""
    return models.PositiveIntegerField(
        verbose_name,
        null=True,
        blank=True,
        validators=CONCURRENCY_LIMIT_VALIDATORS,
        help_text=help_text,
    )


class SoftDeleteQuerySet(models.QuerySet):
    def alive(self) -> SoftDeleteQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> SoftDeleteQuerySet:
        return self.filter(deleted_at__isnull=False)


class AliveManager(models.Manager):
    """Default manager: soft-deleted rows are invisible unless asked for via ``all_objects``."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)
