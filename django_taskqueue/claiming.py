"""The two statements the runner lives on: claim a batch, record a batch of outcomes.

Both are raw SQL because each must be a single statement: the claim selects and marks rows in
one go (``FOR NO KEY UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers, so one
``UPDATE ... RETURNING`` is already atomic), and outcomes are written with the guard
``status = 'running' AND runner_id = <us>`` so a late write never overwrites an item that an
operator canceled or that recovery handed to another runner meanwhile.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import F

from .models import QueueItem, QueueItemAttempt
from .validation import storable_text

logger = logging.getLogger("django_taskqueue.runner")

# The errors that mean "the database cannot be reached", which runners wait out. Any other
# error while writing is about the values written, and concerns only the items concerned.
OUTAGE_ERRORS = (OperationalError, InterfaceError)

# What one attempt may store of its error (a traceback) and its log; beyond, the middle is cut.
MAX_ERROR_CHARACTERS = 100_000
MAX_DETAILS_CHARACTERS = 1_000_000

TABLE = QueueItem._meta.db_table

# One index scan per queue (LATERAL), each walking task_queue_claim_idx in claim order; a
# plain "queue_name = ANY(...)" would make PostgreSQL sort every ready row instead.
_CLAIM_POSTGRES = f"""
WITH next AS (
    SELECT c.id FROM unnest(%s::text[]) AS q(name),
    LATERAL (
        SELECT id, priority, run_at FROM {TABLE}
        WHERE status = 'queued' AND deleted_at IS NULL AND queue_name = q.name AND run_at <= %s
        ORDER BY priority DESC, run_at, id
        LIMIT %s
        FOR NO KEY UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT %s
)
UPDATE {TABLE} AS t
SET status = 'running', attempts = t.attempts + 1, started_at = %s, updated_at = %s,
    runner_id = %s, cancel_requested = FALSE
FROM next WHERE t.id = next.id
RETURNING t.id, t.definition_id, t.queue_name, t.parameters, t.attempts, t.max_attempts,
          t.priority
"""

# SQLite has no LATERAL: the same per-queue index walk is spelled as a UNION ALL of one
# ordered, limited scan per queue. The unary "+" keeps run_at out of the index search; with
# statistics SQLite would otherwise skip-scan on run_at and sort every ready row.
_CLAIM_SQLITE_ONE_QUEUE = f"""
SELECT * FROM (
    SELECT id, priority, run_at FROM {TABLE}
    WHERE status = 'queued' AND deleted_at IS NULL AND queue_name = %s AND +run_at <= %s
    ORDER BY priority DESC, run_at, id
    LIMIT %s
)"""

_CLAIM_SQLITE = f"""
UPDATE {TABLE}
SET status = 'running', attempts = attempts + 1, started_at = %s, updated_at = %s,
    runner_id = %s, cancel_requested = 0
WHERE id IN (
    SELECT id FROM ({{per_queue}}) ORDER BY priority DESC, run_at, id LIMIT %s
)
RETURNING id, definition_id, queue_name, parameters, attempts, max_attempts, priority
"""

ATTEMPTS = QueueItemAttempt._meta.db_table
_OUTCOME_COLUMNS = (
    "item_id, status, output, error, details, completed_at, retry_at, finished_at, attempt,"
    " outcome, started_at"
)

# PostgreSQL: the whole batch in one statement. The outcomes arrive as parallel arrays; one CTE
# updates the items (guarded), the INSERT records the attempts.
_RECORD_POSTGRES = f"""
WITH v AS (
    SELECT * FROM unnest(
        %s::bigint[], %s::text[], %s::jsonb[], %s::text[], %s::text[], %s::timestamptz[],
        %s::timestamptz[], %s::timestamptz[], %s::int[], %s::text[], %s::timestamptz[]
    ) AS v({_OUTCOME_COLUMNS})
), updated AS (
    UPDATE {TABLE} AS t
    SET status = v.status, output = v.output, last_error = v.error,
        details = t.details || v.details, completed_at = v.completed_at,
        run_at = COALESCE(v.retry_at, t.run_at), updated_at = v.finished_at, runner_id = NULL,
        cancel_requested = FALSE
    FROM v WHERE t.id = v.item_id AND t.status = 'running' AND t.runner_id = %s
)
INSERT INTO {ATTEMPTS} (item_id, number, runner_name, started_at, finished_at, outcome, error)
SELECT item_id, attempt, %s, started_at, finished_at, outcome, error FROM v
WHERE EXISTS (SELECT 1 FROM {TABLE} WHERE id = v.item_id)
"""

# SQLite runs in-process, so one prepared statement per row costs no round trips.
_RECORD_SQLITE = f"""
UPDATE {TABLE}
SET status = %s, output = %s, last_error = %s, details = details || %s, completed_at = %s,
    run_at = COALESCE(%s, run_at), updated_at = %s, runner_id = NULL, cancel_requested = FALSE
WHERE id = %s AND status = 'running' AND runner_id = %s
"""
_RECORD_ATTEMPT_SQLITE = f"""
INSERT INTO {ATTEMPTS} (item_id, number, runner_name, started_at, finished_at, outcome, error)
SELECT %s, %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM {TABLE} WHERE id = %s)
"""


class UnreadableParameters(Exception):
    """Stored parameters that are not a JSON object Python can read (written behind our back)."""


@dataclass
class ClaimedItem:
    id: int
    definition_id: int
    queue_name: str
    parameters: Any  # as the database returned it: JSON text, or already decoded
    attempts: int
    max_attempts: int
    priority: int

    def decoded_parameters(self) -> dict[str, Any]:
        """The keyword arguments for the handler. Decoded here, per item, so one unreadable
        row fails that item instead of the claim that fetched it with others."""
        try:
            value = _decode_json(self.parameters)
        except (ValueError, RecursionError) as exc:
            raise UnreadableParameters(f"The stored parameters cannot be read: {exc}") from None
        if not isinstance(value, dict):
            raise UnreadableParameters(
                f"The stored parameters are a JSON {type(value).__name__}, not an object."
            )
        return value


@dataclass
class Outcome:
    """What one attempt produced, waiting to be written in the next batch."""

    item_id: int
    status: str  # a QueueItem.Status value: success, failed, canceled, or queued for a retry
    attempt: int
    attempt_outcome: str  # a QueueItemAttempt.Outcome value
    started_at: datetime
    finished_at: datetime
    output_json: str | None = None
    error: str = ""
    details: str = ""
    retry_at: datetime | None = None

    def storable(self) -> Outcome:
        """This outcome with text every database accepts, and a note in the log if it took
        changes: NUL characters and lone surrogates become U+FFFD, and an oversized error or
        log loses its middle."""
        error, replaced_in_error = storable_text(_cut(self.error, MAX_ERROR_CHARACTERS))
        details, replaced_in_details = storable_text(_cut(self.details, MAX_DETAILS_CHARACTERS))
        replaced = replaced_in_error + replaced_in_details
        if replaced:
            details += (
                f"[django-taskqueue] {replaced} character(s) that cannot be stored (NUL or "
                "lone surrogates) were replaced by U+FFFD in this attempt's error and log.\n"
            )
        if error == self.error and details == self.details:
            return self
        return replace(self, error=error, details=details)

    def unstorable(self, exc: BaseException) -> Outcome:
        """The outcome to store instead of this one, which the database refused."""
        reason = storable_text(f"{type(exc).__name__}: {exc}"[:500])[0]
        return replace(
            self,
            status=QueueItem.Status.FAILED,
            attempt_outcome=QueueItemAttempt.Outcome.FAILED,
            output_json=None,
            details="",
            retry_at=None,
            error=(
                f"The outcome of attempt {self.attempt} could not be stored ({reason}), so the "
                "item was failed instead."
            ),
        )


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters cut …]\n{text[-half:]}"


def _decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def claim_batch(
    queues: list[str], limit: int, runner_id: str, now: datetime, using: str = "default"
) -> list[ClaimedItem]:
    """Mark up to ``limit`` ready items of ``queues`` as running for ``runner_id``."""
    if limit <= 0 or not queues:
        return []
    connection = connections[using]
    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _CLAIM_POSTGRES, [list(queues), stamp, limit, limit, stamp, stamp, runner_id]
            )
        else:
            sql = _CLAIM_SQLITE.format(
                per_queue=" UNION ALL ".join([_CLAIM_SQLITE_ONE_QUEUE] * len(queues))
            )
            per_queue = [value for queue in queues for value in (queue, stamp, limit)]
            cursor.execute(sql, [stamp, stamp, runner_id, *per_queue, limit])
        rows = cursor.fetchall()
    items = [
        ClaimedItem(
            id=row[0],
            definition_id=row[1],
            queue_name=row[2],
            parameters=row[3],
            attempts=row[4],
            max_attempts=row[5],
            priority=row[6],
        )
        for row in rows
    ]
    items.sort(key=lambda item: (-item.priority, item.id))
    return items


def record_outcomes(
    outcomes: list[Outcome], runner_id: str, runner_name: str, using: str = "default"
) -> None:
    """Write a batch of outcomes and their attempt-history rows in one transaction.

    Attempt rows are written even when the guard skips an item (an operator canceled it, or
    recovery gave it to another runner): the handler did run, and the history should say so.
    """
    if not outcomes:
        return
    outcomes = [outcome.storable() for outcome in outcomes]
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            o.item_id,
            o.status,
            o.output_json,
            o.error,
            o.details,
            None if o.status == QueueItem.Status.QUEUED else adapt(o.finished_at),
            adapt(o.retry_at) if o.retry_at else None,
            adapt(o.finished_at),
            o.attempt,
            o.attempt_outcome,
            adapt(o.started_at),
        )
        for o in outcomes
    ]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(_RECORD_POSTGRES, [*columns, runner_id, runner_name])
            return
        cursor.executemany(
            _RECORD_SQLITE,
            [(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[0], runner_id) for r in rows],
        )
        cursor.executemany(
            _RECORD_ATTEMPT_SQLITE,
            [(r[0], r[8], runner_name, r[10], r[7], r[9], r[3], r[0]) for r in rows],
        )


def record_outcomes_one_by_one(
    outcomes: list[Outcome], runner_id: str, runner_name: str, using: str = "default"
) -> None:
    """Write each outcome in its own transaction, after a batch write failed.

    An outcome the database refuses is replaced by a failure saying why, so one bad value
    costs its own item only: the others are written and the runner goes on. Outages are not
    handled here; they propagate, and ``outcomes`` then holds just the ones not yet written
    (each written one is removed from it), for the caller to put back.
    """
    for outcome in list(outcomes):
        try:
            with transaction.atomic(using=using):
                record_outcomes([outcome], runner_id, runner_name, using)
        except OUTAGE_ERRORS:
            raise
        except Exception as exc:  # noqa: BLE001 - any refusal of the values is this item's
            logger.error("Could not store the outcome of item #%d (%r)", outcome.item_id, exc)
            try:
                with transaction.atomic(using=using):
                    record_outcomes([outcome.unstorable(exc)], runner_id, runner_name, using)
            except OUTAGE_ERRORS:
                raise
            except Exception:  # noqa: BLE001
                logger.exception(
                    "Could not fail item #%d either; it stays running until recovery takes "
                    "it after this runner stops",
                    outcome.item_id,
                )
        del outcomes[0]  # written (or given up on): the caller must not put it back


def release_items(runner_id: str, item_ids: list[int], using: str = "default") -> int:
    """Hand unfinished items back to the queue without spending an attempt on them."""
    if not item_ids:
        return 0
    return (
        QueueItem.all_objects.using(using)
        .filter(pk__in=item_ids, status=QueueItem.Status.RUNNING, runner_id=runner_id)
        .update(
            status=QueueItem.Status.QUEUED,
            attempts=F("attempts") - 1,
            runner=None,
            cancel_requested=False,
        )
    )
