"""Unique items in the store: the insert that takes a key's claim, and who holds a claim.

The claim is the ``unique_claim`` column under a unique index on ``(definition, claim)``, so
of two enqueues racing for one key exactly one row is written, whatever the isolation level;
the loser's ``ON CONFLICT DO NOTHING`` writes nothing, and it returns the winner. The rules
are in ``django_taskqueue/uniqueness.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ..models import QueueItem, TaskDefinition

ITEMS = QueueItem._meta.db_table
DEFINITIONS = TaskDefinition._meta.db_table

# Both engines read this INSERT alike but for the cast of the parameters' JSON text.
UNIQUE_INSERT = f"""
INSERT INTO {ITEMS} (
    definition_id, queue_name, parameters, max_attempts, priority, run_at, created_at,
    updated_at, unique_key, unique_scope, unique_claim
)
SELECT d.id, COALESCE(%s, d.queue_name), {{parameters}}, d.max_attempts,
       COALESCE(%s, d.priority), %s, %s, %s, %s,
       CASE WHEN d.unique_for_seconds > 0 THEN 'period' ELSE d.unique_while END, %s
FROM {DEFINITIONS} AS d
WHERE d.alias = %s AND d.is_active AND d.deleted_at IS NULL
ON CONFLICT (definition_id, unique_claim) WHERE unique_claim IS NOT NULL DO NOTHING
RETURNING id, definition_id, queue_name, max_attempts, priority, unique_scope
"""


class UniqueItems:
    """The unique-item statements of ``QueueStore``."""

    unique_insert: ClassVar[str]

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        @property
        def connection(self) -> Any: ...
        def adapt(self, value: Any) -> Any: ...
        def notify(self, queue_names: Iterable[str]) -> None: ...

    def insert_unique(
        self,
        alias: str,
        parameters: str,
        *,
        queue_name: str | None,
        priority: int | None,
        run_at: datetime,
        now: datetime,
        unique_key: str,
    ) -> tuple[int, int, str, int, int, str] | None:
        """The new item's row (with its unique scope), or None when the key is held or the
        definition is missing or inactive."""
        stamp = self.adapt(now)
        params = [
            queue_name,
            parameters,
            priority,
            self.adapt(run_at),
            stamp,
            stamp,
            unique_key,
            unique_key,
            alias,
        ]
        with self.connection.cursor() as cursor:
            cursor.execute(self.unique_insert, params)
            row = cursor.fetchone()
        if row is not None:
            self.notify([row[2]])
        return tuple(row) if row is not None else None

    def unique_holder(self, alias: str, unique_key: str) -> dict[str, Any] | None:
        """The item holding ``unique_key`` of ``alias``: id, status, scope, created_at, and
        the definition's period (for an expired claim), or None."""
        holder = (
            QueueItem.all_objects.using(self.using)
            .filter(definition__alias=alias, unique_claim=unique_key)
            .values("id", "status", "unique_scope", "created_at", "definition__unique_for_seconds")
            .first()
        )
        return dict(holder) if holder is not None else None

    def free_claim(self, item_id: int, unique_key: str, created_before: datetime | None) -> bool:
        """Take the claim from an item that should no longer hold it (out of its scope, or
        created before its period's start); whether it was taken."""
        rows = QueueItem.all_objects.using(self.using).filter(pk=item_id, unique_claim=unique_key)
        if created_before is not None:
            rows = rows.filter(created_at__lte=created_before)
        return bool(rows.update(unique_claim=None))
