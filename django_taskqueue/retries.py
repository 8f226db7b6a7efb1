"""Which failures are retried, and after how long.

Two halves, kept where each belongs. The exceptions a handler retries on or gives up on, and a
backoff function, are code: ``@handler(retry_on=..., give_up_on=..., backoff=callable)``. The
kind of backoff (exponential, linear, constant, or the handler's function) and its numbers
(base, cap) are data on the definition row, which operators edit.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .exceptions import InvalidValue
from .validation import MAX_SECONDS, shown

logger = logging.getLogger("django_taskqueue.runner")

EXPONENTIAL, LINEAR, CONSTANT, CODE = "exponential", "linear", "constant", "code"
BACKOFF_KINDS = (EXPONENTIAL, LINEAR, CONSTANT, CODE)

BackoffFunction = Callable[[int], float]


@dataclass(frozen=True)
class RetryPolicy:
    """From ``@handler``: the exceptions retried (all, unless ``retry_on`` names some) and
    those that fail the item at once (``give_up_on``, which wins over ``retry_on``)."""

    retry_on: tuple[type[BaseException], ...] = ()
    give_up_on: tuple[type[BaseException], ...] = ()
    backoff_function: BackoffFunction | None = None

    def retries(self, kind: type[BaseException]) -> bool:
        if self.give_up_on and issubclass(kind, self.give_up_on):
            return False
        return not self.retry_on or issubclass(kind, self.retry_on)


def exception_classes(value: Any, name: str) -> tuple[type[BaseException], ...]:
    """``ValueError`` or ``(ValueError, KeyError)`` as a tuple of exception classes."""
    classes = value if isinstance(value, (tuple, list)) else (value,)
    for kind in classes:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise InvalidValue(f"{name} must be exception classes, not {shown(kind)}.")
    return tuple(classes)


def backoff_kind(value: Any) -> str:
    """The definition's kind of backoff for ``@handler(backoff=...)``."""
    if value is None:
        return EXPONENTIAL
    if callable(value):
        return CODE
    if value not in BACKOFF_KINDS[:3]:
        raise InvalidValue(
            f"backoff must be one of {', '.join(BACKOFF_KINDS[:3])} or a function of the "
            f"attempt number, not {shown(value)}."
        )
    return str(value)


def retry_delay(
    kind: str,
    base: float,
    cap: float,
    attempt: int,
    function: BackoffFunction | None = None,
) -> timedelta:
    """The wait before the next attempt, after ``attempt`` failed: never above ``cap`` nor
    ``MAX_SECONDS``, with up to 25% jitter so failing items do not retry in lockstep.

    Float arithmetic with the exponent capped: ``0.0 * 2**1024`` raises ``OverflowError``
    (the int cannot become a float), while ``2.0 ** 64`` is only large. A backoff function
    that raises or returns something that is not a number of seconds falls back to the
    exponential backoff, with a warning: a bug in it must not stop retries.
    """
    if kind == CODE and function is not None:
        seconds = _from_function(function, attempt)
    else:
        seconds = None
    if seconds is None:
        step = max(attempt, 1)
        seconds = {
            LINEAR: base * step,
            CONSTANT: base,
        }.get(kind, base * 2.0 ** min(step - 1, 64))
    seconds = min(seconds, cap, MAX_SECONDS)
    return timedelta(seconds=seconds * (1 + random.random() * 0.25))


def _from_function(function: BackoffFunction, attempt: int) -> float | None:
    try:
        seconds = float(function(attempt))
    except Exception as exc:  # noqa: BLE001 - the handler's code; never the runner's end
        logger.warning("Backoff function %r raised %r; using exponential backoff", function, exc)
        return None
    if not math.isfinite(seconds) or seconds < 0:
        logger.warning("Backoff function %r returned %r; using exponential", function, seconds)
        return None
    return seconds
