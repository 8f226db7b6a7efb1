"""One set of rules for a schedule's fields, for every door: the admin form (``Schedule.clean``),
``TASKQUEUE["SCHEDULES"]``, the CLI and the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..exceptions import InvalidValue, UnknownAlias
from ..jsonvalues import encode_parameters
from ..registry import is_registered, registered_aliases
from ..tenants import check_tenant
from ..validation import check_integer, check_priority, validate_name
from ..webhooks.payloads import refuse_internal_alias
from .timing import MAX_INTERVAL_SECONDS, check_cron, check_timezone

MAX_CATCH_UP = 10_000
MISFIRE_POLICIES = ("skip", "once", "all")
DEFAULTS: dict[str, Any] = {
    "parameters": {},
    "queue_name": "",
    "priority": None,
    "cron": "",
    "interval_seconds": None,
    "timezone": "",
    "start_at": None,
    "end_at": None,
    "misfire": "once",
    "max_catch_up": 100,
    "enabled": True,
    "tenant": None,
}
FIELDS = ("name", "alias", *DEFAULTS)


class InvalidSchedule(InvalidValue):
    """A schedule field outside the rules; ``field`` names it."""

    code = "invalid_schedule"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def check_schedule(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a schedule (missing ones take their defaults), checked and tidied;
    ``InvalidSchedule`` naming the first bad one."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidSchedule(
            unknown[0], f"unknown schedule field; the fields are {', '.join(FIELDS)}."
        )
    values = {**DEFAULTS, **fields}
    checked: dict[str, Any] = {}
    for field in FIELDS:
        try:
            checked[field] = _CHECKS[field](values.get(field))
        except (InvalidValue, UnknownAlias) as exc:
            raise InvalidSchedule(field, str(exc).removeprefix(f"{field}: ")) from None
    if bool(checked["cron"]) == (checked["interval_seconds"] is not None):
        raise InvalidSchedule("cron", "give either cron or interval_seconds, not both or neither.")
    start, end = checked["start_at"], checked["end_at"]
    if start is not None and end is not None and end <= start:
        raise InvalidSchedule("end_at", "must be later than start_at.")
    return checked


def _alias(value: Any) -> str:
    validate_name(value, "alias")
    if not is_registered(value):
        raise UnknownAlias(value, registered_aliases())
    refuse_internal_alias(value, InvalidValue)
    return str(value)


def _parameters(value: Any) -> dict[str, Any]:
    encode_parameters(value)
    return dict(value or {})


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValue(f"{value!r} is not an ISO 8601 date and time.") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue("give a date and time with its UTC offset, such as 2027-01-01T02:00Z.")
    return value


def _choice(value: Any) -> str:
    if value not in MISFIRE_POLICIES:
        raise InvalidValue(f"{value!r} is not one of {', '.join(MISFIRE_POLICIES)}.")
    return str(value)


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidValue(f"give true or false, not {value!r}.")
    return value


_CHECKS = {
    "name": lambda v: validate_name(v, "schedule name"),
    "alias": _alias,
    "parameters": _parameters,
    "queue_name": lambda v: v and validate_name(v, "queue name") or "",
    "priority": lambda v: None if v is None else check_priority(v, InvalidValue),
    "cron": lambda v: check_cron(v) if v else "",
    "interval_seconds": lambda v: (
        None if v is None else check_integer(v, "interval_seconds", 1, MAX_INTERVAL_SECONDS)
    ),
    "timezone": lambda v: check_timezone(v) if v else "",
    "start_at": _moment,
    "end_at": _moment,
    "misfire": _choice,
    "max_catch_up": lambda v: check_integer(v, "max_catch_up", 1, MAX_CATCH_UP),
    "enabled": _enabled,
    "tenant": lambda v: check_tenant(v or None),
}
