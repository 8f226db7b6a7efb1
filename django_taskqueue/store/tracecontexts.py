"""The trace context stored with an item, for tracing (``django_taskqueue/tracing/``).

Kept out of the insert and the claim on purpose: both are the hot path, spelled per engine
(and on PostgreSQL, as functions in migrations), and most installations do not trace. So the
context is written by one UPDATE after the insert, and read by one SELECT per claimed batch,
and only while tracing is on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.db.backends.base.base import BaseDatabaseWrapper

from ..models import QueueItem

ITEMS = QueueItem._meta.db_table
# Ids per statement: far below SQLite's limit on bound parameters.
IDS_PER_STATEMENT = 5000
# The JSON text as each engine's column takes it.
JSON_PARAMETER = {"postgresql": "%s::jsonb", "sqlite": "%s"}


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        yield ids[start : start + IDS_PER_STATEMENT]


class TraceContexts:
    """The trace-context statements of ``QueueStore``."""

    vendor: ClassVar[str]

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        @property
        def connection(self) -> BaseDatabaseWrapper: ...

    def set_trace_context(self, ids: Sequence[int], carrier: dict[str, str]) -> None:
        """Store ``carrier`` with new items, in the enqueue's transaction.

        In SQL rather than through a QuerySet, which took five times as long to build as the
        statement takes to run: this is on the path of every traced enqueue."""
        value = json.dumps(carrier)
        with self.connection.cursor() as cursor:
            for chunk in _chunks(ids):
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"UPDATE {ITEMS} SET trace_context = {JSON_PARAMETER[self.vendor]} "
                    f"WHERE id IN ({marks})",
                    [value, *chunk],
                )

    def trace_contexts(self, ids: Sequence[int]) -> dict[int, Any]:
        """Item id to its stored carrier, for those of ``ids`` that have one."""
        items = QueueItem.all_objects.using(self.using)
        found: dict[int, Any] = {}
        for chunk in _chunks(ids):
            rows = items.filter(pk__in=chunk, trace_context__isnull=False)
            found.update(rows.values_list("pk", "trace_context"))
        return found
