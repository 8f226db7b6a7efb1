"""System checks (``manage.py check``): a misconfiguration is reported at start-up, not at
the first enqueue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core import checks
from django.db import connections, router

from .conf import JWT_ALGORITHMS, app_settings
from .exceptions import InvalidValue
from .retention import check_retention
from .schedules.sync import declared_schedules
from .validation import (
    check_integer,
    check_max_attempts,
    check_seconds,
    check_timeout,
    shown,
    validate_name,
)


@checks.register(checks.Tags.database, checks.Tags.compatibility)
def check_queue_database(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .models import QueueItem

    alias = app_settings.DATABASE
    if alias not in connections.settings:
        return [
            checks.Error(
                f"TASKQUEUE['DATABASE'] is {alias!r}, which is not in DATABASES.",
                id="django_taskqueue.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    vendor = connections[alias].vendor
    if vendor not in ("postgresql", "sqlite"):
        errors.append(
            checks.Error(
                f"The queue's database {alias!r} is {vendor}; django-taskqueue supports "
                "PostgreSQL and SQLite.",
                id="django_taskqueue.E002",
            )
        )
    routed = router.db_for_write(QueueItem)
    if routed != alias:
        errors.append(
            checks.Error(
                f"TASKQUEUE['DATABASE'] is {alias!r} but the ORM sends the queue's models to "
                f"{routed!r}, so the admin and the HTTP API would read another database.",
                hint="Add 'django_taskqueue.routers.TaskQueueRouter' to DATABASE_ROUTERS.",
                id="django_taskqueue.E003",
            )
        )
    return errors


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], object]:
    def check(value: Any) -> object:
        if value not in choices:
            raise InvalidValue(f"{shown(value)} is not one of {', '.join(choices)}.")
        return value

    return check


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The defaults new definitions are created with obey the same rules as the rows, the
    limits and the token algorithm are usable values, and declared schedules are valid."""
    rules: dict[str, Callable[[Any], object]] = {
        "MAX_PARAMETERS_BYTES": lambda v: check_integer(v, "the size", 2, 2**31 - 1),
        "MAX_OUTPUT_BYTES": lambda v: check_integer(v, "the size", 4, 2**31 - 1),
        "API_JWT_ALGORITHM": _one_of(JWT_ALGORITHMS),
        "DEFAULT_QUEUE": lambda v: validate_name(v, "queue name"),
        "DEFAULT_MAX_ATTEMPTS": check_max_attempts,
        "DEFAULT_RETRY_BACKOFF_SECONDS": lambda v: check_seconds(v, "the backoff"),
        "DEFAULT_RETRY_BACKOFF_MAX_SECONDS": lambda v: check_seconds(v, "the backoff cap"),
        "DEFAULT_TIMEOUT_SECONDS": check_timeout,
        "HEALTH_MAX_WAIT_SECONDS": lambda v: check_seconds(v, "the wait"),
        "SCHEDULE_MISFIRE_GRACE_SECONDS": lambda v: check_seconds(v, "the grace"),
        "SCHEDULES": lambda v: declared_schedules(),
        "RETENTION": check_retention,
        "PRUNE_BATCH_SIZE": lambda v: check_integer(v, "the batch size", 1, 100_000),
        "PRUNE_INTERVAL_SECONDS": lambda v: check_seconds(v, "the interval"),
    }
    errors: list[checks.CheckMessage] = []
    for name, rule in rules.items():
        try:
            rule(getattr(app_settings, name))
        except InvalidValue as exc:
            errors.append(checks.Error(f"TASKQUEUE[{name!r}]: {exc}", id="django_taskqueue.E004"))
    return errors
