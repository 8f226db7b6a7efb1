"""How long finished items are kept, per final status: ``TASKQUEUE["RETENTION"]``.

``{"success": "7d", "canceled": "7d", "failed": "30d"}``: each status a duration (text with
a unit, or seconds), or None to keep such items for good; a status left out is kept
``RETENTION_DAYS``. Unset, every finished status is kept ``RETENTION_DAYS`` (30 days).
Runners prune by it in small batches as they go (``runner/pruning.py``); so does
``manage.py taskqueue prune``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .conf import app_settings
from .exceptions import InvalidValue
from .validation import MAX_DURATION, check_seconds, parse_duration, shown

FINISHED = ("success", "failed", "canceled")


def retention_policy() -> dict[str, timedelta | None]:
    """Status to how long its items are kept (None: for good), read live."""
    return check_retention(app_settings.RETENTION)


def check_retention(value: Any) -> dict[str, timedelta | None]:
    days = check_seconds(
        app_settings.RETENTION_DAYS, "RETENTION_DAYS", maximum=MAX_DURATION.days, unit="days"
    )
    policy: dict[str, timedelta | None] = {status: timedelta(days=days) for status in FINISHED}
    if value is None:
        return policy
    if not isinstance(value, dict):
        raise InvalidValue(
            f"RETENTION must be a dict of status to duration, like {{'success': '7d'}}, not "
            f"{shown(value)}."
        )
    unknown = sorted(map(str, set(value) - set(FINISHED)))
    if unknown:
        raise InvalidValue(
            f"RETENTION names {', '.join(unknown)}; only finished statuses are pruned: "
            f"{', '.join(FINISHED)}."
        )
    for status, kept in value.items():
        policy[status] = None if kept is None else _duration(kept, status)
    return policy


def _duration(value: Any, status: str) -> timedelta:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except InvalidValue as exc:
            raise InvalidValue(f"RETENTION[{status!r}]: {exc}") from None
    seconds = check_seconds(value, f"RETENTION[{status!r}]", maximum=MAX_DURATION.total_seconds())
    return timedelta(seconds=seconds)
