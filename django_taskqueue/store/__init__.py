"""Every statement the queue sends, behind one interface (``QueueStore``).

``get_store()`` gives the store of the queue's database (``TASKQUEUE["DATABASE"]``, default
``"default"``); ``get_store("other")`` that of another alias. Doors and runners never send SQL
themselves: they call a store method, and the vendor class decides how it is spelled.
"""

from __future__ import annotations

import contextlib

from django.db import connections

from ..conf import app_settings
from ..exceptions import InvalidValue
from ..validation import shown
from .base import OUTAGE_ERRORS, QueueStore
from .records import ClaimedItem, Failure, Outcome, TransitionResult, UnreadableParameters

__all__ = [
    "OUTAGE_ERRORS",
    "ClaimedItem",
    "Failure",
    "Outcome",
    "QueueStore",
    "TransitionResult",
    "UnreadableParameters",
    "get_store",
    "queue_database",
]


def queue_database() -> str:
    """The alias of the database that holds the queue's tables."""
    return str(app_settings.DATABASE)


def get_store(using: str | None = None) -> QueueStore:
    alias = using or queue_database()
    store = _stores.get(alias)
    if store is None:
        store = _stores[alias] = _make_store(alias)
    return store


# Stores hold nothing but their alias, so one per alias serves the whole process.
_stores: dict[str, QueueStore] = {}


def import_store() -> None:
    """Import the queue database's store, and what enqueueing needs, at the app's start, so
    that a process's first enqueue does not pay for the imports. A database the system checks
    refuse is left to them."""
    from .. import enqueue  # noqa: F401

    with contextlib.suppress(InvalidValue, NotImplementedError):
        get_store()


def _make_store(alias: str) -> QueueStore:
    if alias not in connections.settings:
        raise InvalidValue(
            f"There is no database {shown(alias)} in DATABASES (known: "
            f"{', '.join(connections.settings)})."
        )
    vendor = connections[alias].vendor
    if vendor == "postgresql":
        from .postgres import PostgresStore

        return PostgresStore(alias)
    if vendor == "sqlite":
        from .sqlite import SqliteStore

        return SqliteStore(alias)
    raise NotImplementedError(
        f"django-taskqueue supports PostgreSQL and SQLite; database {alias!r} is {vendor}."
    )
