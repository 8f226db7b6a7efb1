"""The one set of rules for values that enter the queue, used by every door.

The Python API, ``@handler``, the HTTP API, the admin and the management commands each turn
their own input format into Python values and then call these checks, so a value is accepted
or refused the same way, with the same message, whichever door it came through. Every check
raises an ``InvalidValue`` (or the subclass the caller names), never a bare ``ValueError``,
``OverflowError`` or ``AttributeError``. The bounds are documented in docs/settings.md#limits.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from .conf import app_settings
from .exceptions import InvalidName, InvalidParameters, InvalidValue

# Aliases and queue names appear in URLs, log lines, NOTIFY payloads and shell commands:
# a conservative character set keeps every one of those places safe without escaping.
# ``\Z``, not ``$``: "$" also matches before a final newline, which would let "emails\n" in.
NAME_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}\Z")
NAME_HELP = "1-100 characters: letters, digits, '_', '.', '-', starting with a letter or digit"

# JSON bounds. Deeper nesting than this is almost always a bug or an attack, and PostgreSQL's
# parser has a stack limit of its own. Python's json module cannot read back integers of over
# 4,300 digits; 300 digits cover every magnitude a float can have, and more than anyone needs.
MAX_JSON_DEPTH = 100
MAX_INTEGER_DIGITS = 300
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS

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
MAX_ITEM_ID = 2**63 - 1  # the primary key is a 64-bit integer

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def shown(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, safe for any value (a 5,000-digit int has
    no ``repr`` at all under Python's default limit)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else f"{text[: width - 1]}…"


def storable_text(text: str) -> tuple[str, int]:
    """``text`` with NUL characters and lone surrogates replaced by U+FFFD, and how many.

    Neither can be stored: PostgreSQL refuses NUL in text, and lone surrogates are not
    encodable as UTF-8 at all. Handlers' logs and errors may hold either.
    """
    return _UNSTORABLE.subn("\ufffd", text)


# --------------------------------------------------------------------------- names


def validate_name(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidName(f"Invalid {kind} {shown(value)}: use {NAME_HELP}.")
    return value


# --------------------------------------------------------------------------- JSON


def _path_text(path: tuple[Any, ...] | None) -> str:
    """``parameters.user[2]`` from the steps ``(((None, "parameters"), ".user"), "[2]")``."""
    parts: list[str] = []
    while path is not None:
        path, step = path
        parts.append(step)
    return "".join(reversed(parts))


def _check_json(
    value: Any, what: str, path: tuple[Any, ...] | None, depth: int, error: type[InvalidValue]
) -> bool:
    """Refuse what JSON would alter or what the database refuses; return whether a float
    needs positional notation to survive PostgreSQL (see ``_float_text``).

    ``path`` is a linked list of steps, turned into text only for the message of an error.
    """
    if depth > MAX_JSON_DEPTH:
        raise error(f"The {what} are nested too deeply (more than {MAX_JSON_DEPTH} levels).")
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            where = _path_text(path)
            if "\x00" in value:
                raise error(f"String at {where} contains a NUL character.")
            raise error(f"String at {where} is not valid Unicode text (a lone surrogate).")
        return False
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        if not -_INTEGER_LIMIT < value < _INTEGER_LIMIT:
            raise error(f"Integer at {_path_text(path)} has more than {MAX_INTEGER_DIGITS} digits.")
        return False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(f"Number at {_path_text(path)} is NaN or infinite; JSON has no such value.")
        return "e" in float.__repr__(value)
    positional = False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"Key {shown(key)} at {_path_text(path)} is not a string.")
            step = (path, f".{key}")
            positional |= _check_json(key, what, step, depth + 1, error)
            positional |= _check_json(item, what, step, depth + 1, error)
        return positional
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            positional |= _check_json(item, what, (path, f"[{index}]"), depth + 1, error)
        return positional
    raise error(
        f"Value at {_path_text(path)} of type {type(value).__name__} is not JSON-serialisable."
    )


def _float_text(value: float) -> str:
    """A float in positional notation with a fraction: ``1e+20`` becomes
    ``100000000000000000000.0``. PostgreSQL's jsonb stores numbers as ``numeric``, which
    prints ``1e20`` back as the integer ``100000000000000000000``; with the ``.0`` it keeps
    the scale, so the value reads back as the same float."""
    text = float.__repr__(value)
    if "e" not in text:
        return text
    digits = format(Decimal(text), "f")
    return digits if "." in digits else f"{digits}.0"


def _positional_json(value: Any) -> str:
    """JSON text like ``json.dumps``, with every float written by ``_float_text``."""
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dict):
        members = (f"{json.dumps(key)}:{_positional_json(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_positional_json(item) for item in value) + "]"
    return json.dumps(value)


def encode_json(
    value: Any, what: str, limit: int, error: type[InvalidValue] = InvalidParameters
) -> str:
    """Check ``value`` and return JSON text that reads back equal on SQLite and PostgreSQL.

    The one exception: PostgreSQL has no negative zero, so ``-0.0`` reads back as ``0.0``
    there. Object key order is not kept on PostgreSQL (jsonb sorts keys); equality holds.
    """
    positional = _check_json(value, what, (None, what), 0, error)
    text = (
        _positional_json(value)
        if positional
        else json.dumps(value, allow_nan=False, separators=(",", ":"))
    )
    if len(text) > limit:  # ensure_ascii: the text is ASCII, one byte per character
        raise error(f"The {what} are {len(text)} bytes as JSON; the limit is {limit}.")
    return text


def encode_parameters(parameters: Any) -> str:
    """Validate ``parameters`` and return their JSON text; raise ``InvalidParameters``."""
    if parameters is None or (type(parameters) is dict and not parameters):
        return "{}"
    if not isinstance(parameters, dict):
        raise InvalidParameters(
            f"Parameters must be a JSON object (a dict of keyword arguments), "
            f"not {type(parameters).__name__}."
        )
    return encode_json(parameters, "parameters", app_settings.MAX_PARAMETERS_BYTES)


def decode_json_text(text: str, what: str, error: type[InvalidValue] = InvalidValue) -> Any:
    """Parse JSON typed by a person (admin form, CLI): any failure is an ``error``.

    ``json.loads`` raises ``RecursionError`` on deep nesting and a plain ``ValueError`` for
    integers of over 4,300 digits, neither of which is a ``JSONDecodeError``.
    """
    try:
        return json.loads(text, parse_constant=refuse_json_constant)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise error(f"The {what} are not valid JSON: {reason}.") from None


def refuse_json_constant(name: str) -> None:
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


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


def parse_item_id(value: Any, error: type[InvalidValue] = InvalidValue) -> int:
    """An item id from a URL, a search box or the command line: ASCII digits, 1 to 2**63-1."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    return check_integer(value, "An item id", 1, MAX_ITEM_ID, error)


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


_DURATION = re.compile(r"\A(\d{1,12}(?:\.\d{1,9})?)([smhd])\Z")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, error: type[InvalidValue] = InvalidValue) -> timedelta:
    """``90s``, ``90m``, ``12h``, ``30d``: a unit is required, so ``30`` cannot mean seconds."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise error(
            f"{shown(text)} is not a duration; use a number and a unit (s, m, h, d), "
            "e.g. 90m, 12h, 30d."
        )
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise error(f"Duration {text!r} is too long; the most is {MAX_DURATION.days} days.")
    return timedelta(seconds=seconds)
