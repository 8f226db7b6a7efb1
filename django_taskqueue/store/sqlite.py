"""SQLite: one writer at a time, so a single ``UPDATE ... RETURNING`` is already an atomic claim.

SQLite runs in-process: a statement per row costs no round trip, which is why outcomes are
written with ``executemany``. Runners are woken by watching ``PRAGMA data_version``
(``runner/wakeup.py``), so ``notify`` has nothing to send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction

from ..validation import MAX_ITEM_ID
from .base import (
    ATTEMPTS,
    DEFINITIONS,
    INSERTED_COLUMNS,
    ITEMS,
    QueueStore,
    outcome_row,
)
from .dependencies import FOLLOWERS, chunks, followers_from, marks
from .flow_sql import due_definitions_sql
from .records import SNOOZED, ClaimedItem, Outcome
from .uniqueness import UNIQUE_INSERT

# The parameters arrive as one JSON array; json_each hands back each element's text as is.
_INSERT = f"""
INSERT INTO {ITEMS} ({", ".join(INSERTED_COLUMNS)})
SELECT d.id, COALESCE(%s, d.queue_name), p.value, d.max_attempts, COALESCE(%s, d.priority),
       %s, %s, %s
FROM {DEFINITIONS} AS d, json_each(%s) AS p
WHERE d.alias = %s AND d.is_active AND d.deleted_at IS NULL
ORDER BY p.key
RETURNING id, definition_id, queue_name, max_attempts, priority
"""

# SQLite has no LATERAL: the per-queue index walk is spelled as a UNION ALL of one ordered,
# limited scan per queue. The unary "+" keeps run_at out of the index search; with statistics
# SQLite would otherwise skip-scan on run_at and sort every ready row.
_CLAIM_ONE_QUEUE = f"""
SELECT * FROM (
    SELECT id, priority, run_at FROM {ITEMS}
    WHERE status = 'queued' AND deleted_at IS NULL AND queue_name = %s AND +run_at <= %s
          {{definitions}}
    ORDER BY priority DESC, run_at, id
    LIMIT %s
)"""

_CLAIM = f"""
UPDATE {ITEMS}
SET status = 'running', attempts = attempts + 1, started_at = %s, updated_at = %s,
    runner_id = %s, cancel_requested = 0,
    unique_claim = CASE WHEN unique_scope = 'queued' THEN NULL ELSE unique_claim END
WHERE id IN (
    SELECT id FROM ({{per_queue}}) ORDER BY priority DESC, run_at, id LIMIT %s
)
RETURNING id, definition_id, queue_name, parameters, attempts, max_attempts, priority
"""

# As on PostgreSQL: a snooze gives its attempt back, and an item an operator asked to cancel
# while it ran is canceled rather than put back. SET reads the row as it was.
_STOPPED = "(cancel_requested AND %(status)s = 'queued')"
_RECORD = f"""
UPDATE {ITEMS}
SET status = CASE WHEN {_STOPPED} THEN 'canceled' ELSE %(status)s END,
    output = %(output)s, last_error = %(error)s, last_error_class = %(error_class)s,
    last_error_message = %(error_message)s, details = details || %(details)s,
    completed_at = CASE WHEN {_STOPPED} THEN %(finished_at)s ELSE %(completed_at)s END,
    run_at = CASE WHEN {_STOPPED} THEN run_at ELSE COALESCE(%(retry_at)s, run_at) END,
    updated_at = %(finished_at)s, runner_id = NULL, cancel_requested = FALSE,
    attempts = attempts - %(snoozed)s,
    unique_claim = CASE WHEN (%(status)s IN ('success', 'failed', 'canceled') OR cancel_requested)
                        AND unique_scope <> 'period' THEN NULL ELSE unique_claim END
WHERE id = %(item_id)s AND status = 'running' AND runner_id = %(runner_id)s
"""
_FINAL = ("success", "failed", "canceled")
_RECORD_ATTEMPT = f"""
INSERT INTO {ATTEMPTS} (
    item_id, number, runner_name, started_at, finished_at, outcome, error, error_class,
    error_message, queue_name, definition_id, enqueued_at
)
SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, queue_name, definition_id, created_at
FROM {ITEMS} WHERE id = %s
"""


class SqliteStore(QueueStore):
    vendor = "sqlite"
    unique_insert = UNIQUE_INSERT.format(parameters="%s")

    def insert_items(
        self,
        alias: str,
        parameters: Sequence[str],
        *,
        queue_name: str | None,
        priority: int | None,
        run_at: datetime,
        now: datetime,
    ) -> list[tuple[int, int, str, int, int]] | None:
        stamp = self.adapt(now)
        array = f"[{','.join(parameters)}]"
        params = [queue_name, priority, self.adapt(run_at), stamp, stamp, array, alias]
        with self.connection.cursor() as cursor:
            cursor.execute(_INSERT, params)
            rows = cursor.fetchall()
        return sorted(rows) or None  # ids grow in insertion order; RETURNING has no order

    def claim(
        self,
        queues: Sequence[str],
        limit: int,
        runner_id: str,
        now: datetime,
        *,
        skip_definitions: Sequence[int] = (),
        newest_definition: int = MAX_ITEM_ID,
    ) -> list[ClaimedItem]:
        if limit <= 0 or not queues:
            return []
        stamp = self.adapt(now)
        definitions, filters = "AND definition_id <= %s", [newest_definition]
        if skip_definitions:
            marks = ", ".join(["%s"] * len(skip_definitions))
            definitions += f" AND definition_id NOT IN ({marks})"
            filters += list(skip_definitions)
        one_queue = _CLAIM_ONE_QUEUE.format(definitions=definitions)
        sql = _CLAIM.format(per_queue=" UNION ALL ".join([one_queue] * len(queues)))
        per_queue = [value for queue in queues for value in (queue, stamp, *filters, limit)]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [stamp, stamp, runner_id, *per_queue, limit])
            rows = cursor.fetchall()
        items = [ClaimedItem.from_row(row, now) for row in rows]
        items.sort(key=lambda item: (-item.priority, item.id))
        return items

    def lock_due_definitions(
        self, limited: Sequence[int], queues: Sequence[str], now: datetime
    ) -> list[int]:
        sql, params = due_definitions_sql(limited, queues, self.adapt(now))
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            due = [row[0] for row in cursor.fetchall()]
        if due:  # an item due a moment later waits for the next claim
            self._take_write_lock()
        return due

    def lock_queues(self, names: Sequence[str]) -> None:
        self._take_write_lock()

    def _take_write_lock(self) -> None:
        # SQLite locks the database, not rows: any write takes its one write lock now, before
        # the usage is read, even in a DEFERRED transaction and matching no row.
        with self.connection.cursor() as cursor:
            cursor.execute(f"UPDATE {DEFINITIONS} SET id = id WHERE id = 0")

    def record_outcomes(
        self, outcomes: Sequence[Outcome], runner_id: str, runner_name: str
    ) -> None:
        if not outcomes:
            return
        rows = [self._adapted(outcome_row(o.storable())) for o in outcomes]
        with transaction.atomic(using=self.using, savepoint=False):
            self._take_write_lock()  # so the items read as held stay so until written
            held = self._held_items([o.item_id for o in outcomes], runner_id)
            with self.connection.cursor() as cursor:
                cursor.executemany(_RECORD, [_named(r, runner_id) for r in rows])
                cursor.executemany(
                    _RECORD_ATTEMPT,
                    [
                        (r[0], r[10], runner_name, r[12], r[9], r[11], *r[3:6], r[0])
                        for r in rows
                        if r[11] != SNOOZED  # a snooze gives its attempt back: no row
                    ],
                )
            # What the batch finished: a final status, or a cancel asked while it ran.
            finished = [
                o.item_id
                for o in outcomes
                if o.item_id in held and (o.status in _FINAL or held[o.item_id][0])
            ]
            self.settle_finished(finished, followers_from((pk, *held[pk][1:]) for pk in finished))

    def _held_items(self, item_ids: list[int], runner_id: str) -> dict[int, tuple[Any, ...]]:
        """The items of ``item_ids`` the runner still holds, which its outcomes will be
        written to: ``cancel_requested`` and their ``FOLLOWERS`` by id."""
        held: dict[int, tuple[Any, ...]] = {}
        for part in chunks(item_ids):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, cancel_requested, {FOLLOWERS.format(row=ITEMS)} FROM {ITEMS} "
                    f"WHERE id IN ({marks(part)}) AND status = 'running' AND runner_id = %s",
                    [*part, runner_id],
                )
                held.update((row[0], row[1:]) for row in cursor.fetchall())
        return held

    def _adapted(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(self.adapt(v) if isinstance(v, datetime) else v for v in row)


def _named(row: tuple[Any, ...], runner_id: str) -> dict[str, Any]:
    """An ``outcome_row`` (adapted) as the named parameters of ``_RECORD``."""
    item_id, status, output, error, error_class, error_message, details = row[:7]
    completed_at, retry_at, finished_at, _attempt, outcome = row[7:12]
    return {
        "item_id": item_id,
        "status": status,
        "output": output,
        "error": error,
        "error_class": error_class,
        "error_message": error_message,
        "details": details,
        "completed_at": completed_at,
        "retry_at": retry_at,
        "finished_at": finished_at,
        "snoozed": outcome == SNOOZED,
        "runner_id": runner_id,
    }
