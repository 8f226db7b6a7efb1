"""The rules of unique items, shared by the decorator, the enqueue doors and the store.

An item enqueued with a ``unique_key`` holds a *claim* on it (a copy of the key in a column
with a unique index) for as long as its definition's scope says:

- ``queued``: while it waits (queued or paused); the claim goes when a runner takes it;
- ``active``: while it waits or runs; the claim goes when it finishes;
- ``period`` (``unique_for``): for that long after it was created, whatever its status; an
  enqueue that finds an expired claim frees it and takes it.

Soft-deleting or canceling an item frees its claim (except a period's). Requeueing a finished
item does not take one again: uniqueness is decided when an item is enqueued.
"""

from __future__ import annotations

from typing import Any

from .exceptions import InvalidParameters, InvalidValue
from .validation import check_key, check_seconds, parse_duration, shown

QUEUED, ACTIVE, PERIOD = "queued", "active", "period"
# The statuses in which an item of each scope holds its claim (a period's: all of them).
HOLDING_STATUSES = {
    QUEUED: ("waiting", "queued", "paused"),
    ACTIVE: ("waiting", "queued", "paused", "running"),
}
UNIQUE_SCOPES = (QUEUED, ACTIVE)
ON_DUPLICATE = ("return", "raise")
UNIQUE_KEY_MAX_LENGTH = 200  # the column's length


def unique_period(value: Any) -> float:
    """``unique_for`` as seconds: ``"10m"``, ``"1h"`` or a number of seconds, above 0."""
    seconds = (
        parse_duration(value).total_seconds()
        if isinstance(value, str)
        else check_seconds(value, "unique_for")
    )
    if seconds <= 0:
        raise InvalidValue(f"unique_for must be longer than 0 seconds, not {shown(value)}.")
    return seconds


def holds_claim(scope: str, status: str) -> bool:
    """Whether an item of ``scope`` in ``status`` should hold its key. One that holds it
    outside its scope (its claim left there by older code, or by a hand-made status edit) is
    freed by the next enqueue of the key."""
    return status in HOLDING_STATUSES.get(scope, (status,))


def check_unique_key(value: Any) -> str:
    return check_key(value, "unique_key", UNIQUE_KEY_MAX_LENGTH)


def check_on_duplicate(value: Any) -> str:
    if value not in ON_DUPLICATE:
        raise InvalidParameters(f"on_duplicate must be 'return' or 'raise', not {shown(value)}.")
    return str(value)
