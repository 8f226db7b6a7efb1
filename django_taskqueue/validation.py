"""The one set of rules for values that enter the queue, used by every door.

The Python API, ``@handler``, the HTTP API, the admin and the management commands each turn
their own input format into Python values and then call these checks, so a value is accepted
or refused the same way, with the same message, whichever door it came through. Every check
raises an ``InvalidValue`` (or the subclass the caller names), never a bare ``ValueError``,
``OverflowError`` or ``AttributeError``. The bounds are documented in docs/settings.md#limits;
the rules of JSON values are in ``jsonvalues.py``.
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from .exceptions import InvalidName, InvalidParameters, InvalidValue

# Aliases and queue names appear in URLs, log lines, NOTIFY payloads and shell commands:
# a conservative character set keeps every one of those places safe without escaping.
# ``\Z``, not ``$``: "$" also matches before a final newline, which would let "emails\n" in.
NAME_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\Z")
NAME_HELP = "1-100 characters: letters, digits, '_', '.', '-', starting with a letter or digit"

# Dates an item may be scheduled for. Outside them, a time zone offset can push a value past
# what Python or PostgreSQL represent (year 1 at +05:00 is a BC timestamp on PostgreSQL).
EARLIEST_RUN_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_RUN_AT = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive

# Durations: timeouts, backoffs, grace periods, ages given to the CLI.
MAX_SECONDS = 366 * 24 * 3600.0  # one (leap) year: longer waits belong in run_at
MIN_TIMEOUT_SECONDS = 0.001
MIN_UNSTUCK_MINUTES, MAX_UNSTUCK_MINUTES = 0.01, 7 * 24 * 60.0
MAX_DURATION = timedelta(days=36_500)  # CLI ages such as "purge --older-than 30d"
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1  # the column is a 32-bit integer
MAX_ATTEMPTS = 100_000
MAX_CONCURRENCY_LIMIT = 100_000
MAX_ITEM_ID = 2**63 - 1  # the primary key is a 64-bit integer

# What no text column takes: NUL (PostgreSQL refuses it) and lone surrogates (not UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def shown(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, safe for any value (a 5,000-digit int has
    no ``repr`` at all under Python's default limit)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else f"{text[: width - 1]}…"


def one_queue_name(queue: Any, queue_name: Any, error: type[InvalidValue] = InvalidValue) -> Any:
    """The queue of ``queue=`` or ``queue_name=``, which every Python door takes as one
    argument (``queue_name`` is the main spelling, Django's Tasks API's); both, naming two
    different queues, is an error rather than a silent choice."""
    if queue is not None and queue_name is not None and queue != queue_name:
        raise error(
            f"queue={shown(queue)} and queue_name={shown(queue_name)} name two different "
            "queues; give one of them (queue_name is the main spelling)."
        )
    return queue_name if queue_name is not None else queue


def cut_at_word(text: str, limit: int) -> str:
    """``text`` on one line, cut at the last word boundary within ``limit`` characters, with
    "…" where it was cut. A single word longer than half the limit (a URL, a path) is cut
    where the limit falls instead."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    head = line[: limit + 1]  # a space just after the limit still ends a whole word
    kept = head.rsplit(" ", 1)[0] if " " in head else ""
    if len(kept) < limit // 2:
        kept = line[:limit]
    return f"{kept.rstrip(' ,.;:')}…"


def storable_text(text: str) -> tuple[str, int]:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD, and how many.

    Neither can be stored: PostgreSQL refuses NUL in text, and lone surrogates are not
    encodable as UTF-8 at all. Handlers' logs and errors may hold either.
    """
    return UNSTORABLE.subn("\ufffd", text)


# --------------------------------------------------------------------------- names


def check_key(value: Any, name: str, max_length: int) -> str:
    """A key (``unique_key``, ``concurrency_key``): text of 1 to ``max_length`` characters that
    the database can store."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_length or storable_text(value)[1]:
        raise InvalidParameters(
            f"{name} must be text of 1 to {max_length} characters without NUL or lone "
            f"surrogates, not {shown(value)}."
        )
    return value


def validate_name(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidName(f"Invalid {kind} {shown(value)}: use {NAME_HELP}.")
    return value


# --------------------------------------------------------------------------- numbers


def check_integer(
    value: Any, name: str, minimum: int, maximum: int, error: type[InvalidValue] = InvalidValue
) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(
            f"{name} must be a whole number from {minimum} to {maximum}, not {shown(value)}."
        )
    if not minimum <= value <= maximum:
        raise error(
            f"{name} {shown(value)} is out of range: use a whole number from {minimum} to "
            f"{maximum}."
        )
    return int(value)


def check_priority(value: Any, error: type[InvalidValue] = InvalidParameters) -> int:
    return check_integer(value, "Priority", PRIORITY_MIN, PRIORITY_MAX, error)


def check_max_attempts(value: Any, error: type[InvalidValue] = InvalidValue) -> int:
    return check_integer(value, "max_attempts", 1, MAX_ATTEMPTS, error)


def check_concurrency_limit(value: Any, name: str = "concurrency_limit") -> int | None:
    """None (no limit) or 1 to ``MAX_CONCURRENCY_LIMIT`` items running at once."""
    if value is None:
        return None
    return check_integer(value, name, 1, MAX_CONCURRENCY_LIMIT)


def check_seconds(
    value: Any,
    name: str,
    *,
    minimum: float = 0.0,
    maximum: float = MAX_SECONDS,
    unit: str = "seconds",
    error: type[InvalidValue] = InvalidValue,
) -> float:
    """A finite number of seconds (or of ``unit``) in ``[minimum, maximum]``."""
    message = f"{name} must be at least {minimum:g} and at most {maximum:g} {unit}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{message}, not {shown(value)}.")
    try:
        seconds = float(value)
    except (OverflowError, ValueError):
        raise error(f"{message}, not {shown(value)}.") from None
    if not math.isfinite(seconds) or not minimum <= seconds <= maximum:
        raise error(f"{message}, not {shown(value)}.")
    return seconds


def check_unstuck_minutes(value: Any, name: str = "unstuck_minutes") -> float:
    """How long a runner may go without a heartbeat before its items are recovered."""
    return check_seconds(
        value, name, minimum=MIN_UNSTUCK_MINUTES, maximum=MAX_UNSTUCK_MINUTES, unit="minutes"
    )


def check_timeout(value: Any, error: type[InvalidValue] = InvalidValue) -> float | None:
    if value is None:
        return None
    return check_seconds(value, "timeout_seconds", minimum=MIN_TIMEOUT_SECONDS, error=error)


def parse_item_id(
    value: Any, error: type[InvalidValue] = InvalidValue, what: str = "An item id"
) -> int:
    """An item id from a URL, a search box or the command line: ASCII digits, 1 to 2**63-1.
    Workflow ids follow the same rule (``what="A workflow id"``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    return check_integer(value, what, 1, MAX_ITEM_ID, error)


def parse_item_ids(text: str, error: type[InvalidValue] = InvalidValue) -> list[int]:
    """``3`` or ``3, 4``: item ids as a person types them (the CLI's ``--depends-on``, the
    admin's enqueue form)."""
    return [parse_item_id(part.strip(), error) for part in text.split(",")]


# --------------------------------------------------------------------------- dates, durations


def check_run_at(value: Any, error: type[InvalidValue] = InvalidParameters) -> datetime:
    """An aware ``datetime`` from 1970 up to (not including) the year 3000, in UTC."""
    if not isinstance(value, datetime):
        raise error(f"run_at must be a timezone-aware datetime, not {type(value).__name__}.")
    try:
        naive = timezone.is_naive(value)
        utc = None if naive else value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
        naive = False
    if naive:
        raise error("run_at must be timezone-aware (give it a tzinfo, e.g. datetime.UTC).")
    if utc is None or not EARLIEST_RUN_AT <= utc < LATEST_RUN_AT:
        raise error(
            f"run_at {shown(value, 80)} is out of range: use a time from "
            f"{EARLIEST_RUN_AT:%Y-%m-%d} up to {LATEST_RUN_AT:%Y-%m-%d} (UTC)."
        )
    return utc


def validate_run_at_bounds(value: Any) -> None:
    """The model field validator behind ``check_run_at``, for forms on the models."""
    try:
        check_run_at(value, InvalidValue)
    except InvalidValue as exc:
        raise ValidationError(str(exc), code="run_at_out_of_range") from None


def check_delay(value: Any, error: type[InvalidValue] = InvalidParameters) -> timedelta:
    """A non-negative number of seconds or a ``timedelta``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except (OverflowError, ValueError):
            seconds = math.inf
    else:
        raise error(f"Delay {shown(value)} is not a usable number of seconds or a timedelta.")
    limit = (LATEST_RUN_AT - EARLIEST_RUN_AT).total_seconds()
    if not math.isfinite(seconds) or not 0 <= seconds <= limit:
        raise error(f"Delay {shown(value)} is not a usable number of seconds (0 or more).")
    return timedelta(seconds=seconds)


def resolve_run_at(
    run_at: Any, delay: Any, error: type[InvalidValue] = InvalidParameters
) -> datetime:
    """When an item becomes ready: ``run_at``, now plus ``delay``, or now."""
    if run_at is not None and delay is not None:
        raise error("Pass either run_at or delay, not both.")
    if delay is not None:
        when = timezone.now() + check_delay(delay, error)
        if when >= LATEST_RUN_AT:
            raise error(f"Delay {shown(delay)} reaches past {LATEST_RUN_AT:%Y-%m-%d}.")
        return when
    if run_at is not None:
        return check_run_at(run_at, error)
    return timezone.now()


_DURATION = re.compile(r"\A(\d{1,12}(?:\.\d{1,9})?)(ms|[smhd])?\Z")
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(
    text: str, error: type[InvalidValue] = InvalidValue, bare_unit: str | None = None
) -> timedelta:
    """``500ms``, ``90s``, ``90m``, ``12h``, ``30d``. A bare number is in ``bare_unit`` where
    the option names one (``--grace-seconds 30``); where it does not, a unit is required, so
    ``30`` cannot mean seconds to one reader and days to another."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    unit = (match.group(2) or bare_unit) if match else None
    if match is None or unit is None:
        raise error(
            f"{shown(text)} is not a duration; use a number and a unit (ms, s, m, h, d), "
            "e.g. 90m, 12h, 30d."
        )
    seconds = float(match.group(1)) * DURATION_UNITS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise error(f"Duration {text!r} is too long; the most is {MAX_DURATION.days} days.")
    return timedelta(seconds=seconds)
