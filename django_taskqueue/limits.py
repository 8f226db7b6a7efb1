"""The rules of flow control, shared by the decorator, the doors, the admin and the store.

- ``rate_limit`` (``"20/s"``, ``"100/m"``, ``"1000/h"``) counts attempts *started*: at most N
  in any sliding window of that length, across every runner.
- ``concurrency_limit`` counts items *running*, across every runner.
- Both exist on a definition and on a queue. A definition's ``key_concurrency_limit`` and
  ``key_rate_limit`` apply to each value of its items' ``concurrency_key`` on its own.

An item that a limit holds back stays ``queued``: nothing is counted against it, and the next
claim with room takes it. The claim itself is in ``store/flow.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from .exceptions import InvalidValue
from .validation import MAX_ITEM_ID, check_concurrency_limit, check_key, shown

RATE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
RATE_HELP = 'a count per second, minute or hour: "20/s", "100/m", "1000/h"'
RATE_LIMIT_MAX_LENGTH = 20  # the columns' length
MAX_RATE_COUNT = 1_000_000
KEY_MAX_LENGTH = 200  # the concurrency_key column's length
_RATE = re.compile(r"\A\s*(\d{1,7})\s*/\s*([smh])\s*\Z")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` starts in any window of ``seconds``."""

    count: int
    seconds: float

    def __str__(self) -> str:
        unit = next(u for u, s in RATE_UNITS.items() if s == self.seconds)
        return f"{self.count}/{unit}"


def parse_rate(value: Any, name: str = "rate_limit") -> Rate:
    match = _RATE.match(value) if isinstance(value, str) else None
    count = int(match.group(1)) if match else 0
    if match is None or not 1 <= count <= MAX_RATE_COUNT:
        raise InvalidValue(
            f"{name} must be {RATE_HELP} (1 to {MAX_RATE_COUNT:,}), not {shown(value)}."
        )
    return Rate(count, RATE_UNITS[match.group(2)])


def check_rate_limit(value: Any, name: str = "rate_limit") -> str:
    """A rate limit as stored: ``""`` for none, else its normal spelling (``"20/s"``)."""
    if value is None or value == "":
        return ""
    return str(parse_rate(value, name))


def validate_rate_limit(value: Any) -> None:
    """The model field validator behind ``check_rate_limit``, for forms on the models."""
    try:
        check_rate_limit(value)
    except InvalidValue as exc:
        raise ValidationError(str(exc), code="invalid_rate_limit") from None


def rate_limit_field(verbose_name: Any, help_text: Any) -> models.CharField:
    return models.CharField(
        verbose_name,
        max_length=RATE_LIMIT_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        validators=[validate_rate_limit],
        help_text=help_text,
    )


def concurrency_limit_from_text(text: str) -> int | None:
    """A concurrency limit an operator typed (a form field, a command-line option): empty
    for none, else a whole number."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidValue(f"A concurrency limit is a whole number, not {shown(text)}.")
    return check_concurrency_limit(int(text))


def check_concurrency_key(value: Any) -> str | None:
    return None if value is None else check_key(value, "concurrency_key", KEY_MAX_LENGTH)


def stored_rate(text: str | None) -> Rate | None:
    """The rate of a stored column, or None for none (or a value an old hand edit broke)."""
    try:
        return parse_rate(text) if text else None
    except InvalidValue:
        return None


@dataclass(frozen=True)
class Limits:
    """The limits of one definition or one queue; ``keyed_*`` only on definitions."""

    concurrency: int | None = None
    rate: Rate | None = None
    key_concurrency: int | None = None
    key_rate: Rate | None = None

    def __bool__(self) -> bool:
        return any((self.concurrency, self.rate, self.key_concurrency, self.key_rate))


@dataclass(frozen=True)
class FlowRules:
    """Every limit in force: definition id, and queue name, to its limits (limited ones only).
    ``names`` gives the definitions' aliases, for saying why an item waits. A claim on queues
    with no limit and no keyed items known is the plain claim, without even a look-up."""

    definitions: dict[int, Limits] = field(default_factory=dict)
    queues: dict[str, Limits] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    keyed_queues: frozenset[str] = frozenset()  # queues that had keyed items waiting
    # The newest definition whose limits these are: claims leave newer ones' items alone
    # until the rules are read again (at once, when a claim finds such a definition).
    newest_definition: int = MAX_ITEM_ID
