"""PostgreSQL: SKIP LOCKED claims, array-at-once inserts and outcomes, LISTEN/NOTIFY."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, transaction

from ..conf import app_settings
from ..limits import FlowRules, Limits
from ..validation import MAX_ITEM_ID
from .base import ATTEMPTS, ITEMS, QUEUES, QueueStore, outcome_row
from .big_counts import EstimatedCounts
from .dependencies import FOLLOWERS, followers_from
from .flow_sql import due_definitions_sql
from .one_trip import fetch_rows
from .records import SNOOZED, ClaimedItem, Outcome
from .rooms import definition_scope, queue_scope, window
from .uniqueness import UNIQUE_INSERT

CHANNEL = "django_taskqueue"
# Finished items and workflows, for wait(): payloads of space-separated "7" and "w3" tokens.
FINISHED_CHANNEL = "django_taskqueue_finished"
MAX_PAYLOAD = 7000  # bytes; PostgreSQL refuses payloads of 8000 or more

# The one insert, for one item or thousands: a function (migration 0005), so PostgreSQL plans
# its statements once per session instead of on every enqueue. It reads the definition's
# defaults, inserts the rows in order and sends the NOTIFY in the caller's transaction.
_INSERT = "SELECT * FROM django_taskqueue_enqueue(%s, %s::jsonb, %s, %s, %s, %s, %s)"
# The roomy claim under limits (store/roomy.py) as one call: migration 0010.
_CLAIM_ROOMY = "SELECT * FROM django_taskqueue_claim_roomy(%s::text[], %s, %s, %s, %s, %s::jsonb)"

# One index scan per queue (LATERAL), each walking task_queue_claim_idx in claim order; a
# plain "queue_name = ANY(...)" would make PostgreSQL sort every ready row instead.
_CLAIM = f"""
WITH next AS (
    SELECT c.id FROM unnest(%s::text[]) AS q(name),
    LATERAL (
        SELECT id, priority, run_at FROM {ITEMS}
        WHERE status = 'queued' AND deleted_at IS NULL AND queue_name = q.name AND run_at <= %s
              {{definitions}}
        ORDER BY priority DESC, run_at, id
        LIMIT %s
        FOR NO KEY UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority DESC, c.run_at, c.id
    LIMIT %s
)
UPDATE {ITEMS} AS t
SET status = 'running', attempts = t.attempts + 1, started_at = %s, updated_at = %s,
    runner_id = %s, cancel_requested = FALSE,
    unique_claim = CASE WHEN t.unique_scope = 'queued' THEN NULL ELSE t.unique_claim END
FROM next WHERE t.id = next.id
RETURNING t.id, t.definition_id, t.queue_name, t.parameters, t.attempts, t.max_attempts,
          t.priority
"""
# The claim of the definitions up to the newest a runner knows the limits of: of all of them,
# or of all but the limited ones.
_CLAIMS = {
    "all": _CLAIM.format(definitions="AND definition_id <= %s"),
    "skip": _CLAIM.format(
        definitions="AND definition_id <= %s AND definition_id <> ALL(%s::bigint[])"
    ),
}

# The outcome columns, in the order of ``outcome_row``.
_OUTCOME_COLUMNS = (
    ("item_id", "bigint"),
    ("status", "text"),
    ("output", "text"),  # JSON text, cast below: its number text stays as written
    ("traceback", "text"),
    ("error_class", "text"),
    ("error_message", "text"),
    ("details", "text"),
    ("completed_at", "timestamptz"),
    ("retry_at", "timestamptz"),
    ("finished_at", "timestamptz"),
    ("attempt", "int"),
    ("outcome", "text"),
    ("started_at", "timestamptz"),
)
# The whole batch in one statement. The outcomes arrive as one JSON array of objects, which
# json.dumps writes in C; as parallel arrays, psycopg quoted every element in Python. One CTE
# updates the items (guarded), the INSERT records the attempts. A snooze gives its attempt
# back and leaves no attempt row. An item an operator asked to cancel while it ran is
# canceled rather than put back for a retry or a snooze. It returns the items it finished,
# each with what may follow from it (dependents, a workflow, a webhook).
_STOPPED = "(t.cancel_requested AND v.status = 'queued')"
_RECORD = f"""
WITH v AS (
    SELECT * FROM jsonb_to_recordset(%s::jsonb)
    AS v({", ".join(f"{name} {kind}" for name, kind in _OUTCOME_COLUMNS)})
), updated AS (
    UPDATE {ITEMS} AS t
    SET status = CASE WHEN {_STOPPED} THEN 'canceled' ELSE v.status END,
        output = v.output::jsonb, last_error = v.traceback,
        last_error_class = v.error_class, last_error_message = v.error_message,
        details = t.details || v.details,
        completed_at = CASE WHEN {_STOPPED} THEN v.finished_at ELSE v.completed_at END,
        run_at = CASE WHEN {_STOPPED} THEN t.run_at ELSE COALESCE(v.retry_at, t.run_at) END,
        updated_at = v.finished_at, runner_id = NULL,
        cancel_requested = FALSE, attempts = t.attempts - (v.outcome = '{SNOOZED}')::int,
        unique_claim = CASE WHEN (v.status IN ('success', 'failed', 'canceled')
                                  OR t.cancel_requested)
                            AND t.unique_scope <> 'period' THEN NULL ELSE t.unique_claim END
    FROM v WHERE t.id = v.item_id AND t.status = 'running' AND t.runner_id = %s
    RETURNING t.id, t.status, t.definition_id, t.workflow_id, t.webhook_url
), logged AS (
    INSERT INTO {ATTEMPTS} (
        item_id, number, runner_name, started_at, finished_at, outcome, error, error_class,
        error_message, queue_name, definition_id, enqueued_at
    )
    SELECT v.item_id, v.attempt, %s, v.started_at, v.finished_at, v.outcome, v.traceback,
           v.error_class, v.error_message, i.queue_name, i.definition_id, i.created_at
    FROM v JOIN {ITEMS} AS i ON i.id = v.item_id WHERE v.outcome <> '{SNOOZED}'
)
SELECT u.id, {FOLLOWERS.format(row="u")}
FROM updated AS u WHERE u.status IN ('success', 'failed', 'canceled')
"""
_NAMES = [name for name, _ in _OUTCOME_COLUMNS]


_LIBPQ_KEYS = (
    "dbname",
    "user",
    "password",
    "host",
    "port",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "options",
    "application_name",
    "service",
    "passfile",
)


def listen_conninfo(using: str) -> dict[str, Any]:
    """Connection parameters for a dedicated ``LISTEN`` connection to ``using``'s server:
    through ``TASKQUEUE["LISTEN_DATABASE"]`` when set, since a pooler in transaction mode
    hands the session on after each statement and its notifications with it."""
    params = connections[app_settings.LISTEN_DATABASE or using].get_connection_params()
    return {key: params[key] for key in _LIBPQ_KEYS if params.get(key) is not None}


class PostgresStore(EstimatedCounts, QueueStore):
    vendor = "postgresql"
    unique_insert = UNIQUE_INSERT.format(parameters="%s::jsonb")

    @property
    def notifies(self) -> bool:
        """LISTEN/NOTIFY on; off behind a pooler in transaction mode, where LISTEN fails."""
        return bool(app_settings.USE_LISTEN_NOTIFY)

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
        channel = CHANNEL if self.notifies else None
        # One JSON array as text: cheaper to send than an array of jsonb values.
        array = f"[{','.join(parameters)}]"
        params = [alias, array, queue_name, priority, run_at, now, channel]
        return fetch_rows(self.connection, _INSERT, params) or None

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
        filters: list[Any]
        if skip_definitions:
            sql, filters = _CLAIMS["skip"], [newest_definition, list(skip_definitions)]
        else:
            sql, filters = _CLAIMS["all"], [newest_definition]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [list(queues), now, *filters, limit, limit, now, now, runner_id])
            rows = cursor.fetchall()
        items = [ClaimedItem.from_row(row, now) for row in rows]
        items.sort(key=lambda item: (-item.priority, item.id))
        return items

    def claim_roomy(
        self,
        queues: Sequence[str],
        limit: int,
        runner_id: str,
        now: datetime,
        rules: FlowRules,
        queue_rules: dict[str, Limits],
    ) -> list[ClaimedItem] | None:
        limits = {
            "definitions": [
                {
                    **_limit_fields(limits, definition_scope(d)),
                    "id": d,
                    "keyed": bool(limits.key_concurrency or limits.key_rate),
                }
                for d, limits in sorted(rules.definitions.items())
            ],
            "queues": [
                {**_limit_fields(limits, queue_scope(name)), "name": name}
                for name, limits in sorted(queue_rules.items())
            ],
        }
        params: list[Any] = [list(queues), limit, runner_id, now, rules.newest_definition]
        params.append(json.dumps(limits))
        with self.connection.cursor() as cursor:
            cursor.execute(_CLAIM_ROOMY, params)
            rows = cursor.fetchall()
        if rows and not rows[0][0]:
            return None
        items = [ClaimedItem.from_row(row[2:], row[1]) for row in rows]
        items.sort(key=lambda item: (-item.priority, item.id))
        return items

    def lock_due_definitions(
        self, limited: Sequence[int], queues: Sequence[str], now: datetime
    ) -> list[int]:
        # NO KEY: an enqueue's foreign key takes KEY SHARE on a definition, which this leaves
        # free. Definitions before queues, each in order: the same for every claim.
        sql, params = due_definitions_sql(limited, queues, now, "FOR NO KEY UPDATE OF d")
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    def lock_queues(self, names: Sequence[str]) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT name FROM {QUEUES} WHERE name = ANY(%s) ORDER BY name FOR NO KEY UPDATE",
                [list(names)],
            )

    def lock_candidates(self, ids: Sequence[int]) -> set[int]:
        if not ids:
            return set()
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {ITEMS} WHERE id = ANY(%s) AND status = 'queued' "
                "FOR NO KEY UPDATE SKIP LOCKED",
                [list(ids)],
            )
            return {row[0] for row in cursor.fetchall()}

    def record_outcomes(
        self, outcomes: Sequence[Outcome], runner_id: str, runner_name: str
    ) -> None:
        if not outcomes:
            return
        batch = json.dumps(
            [
                dict(zip(_NAMES, map(_json_value, outcome_row(o.storable())), strict=True))
                for o in outcomes
            ]
        )
        with transaction.atomic(using=self.using, savepoint=False):
            with self.connection.cursor() as cursor:
                cursor.execute(_RECORD, [batch, runner_id, runner_name])
                finished = cursor.fetchall()
            self.settle_finished([row[0] for row in finished], followers_from(finished))

    def notify(self, queue_names: Iterable[str]) -> None:
        names = sorted(set(queue_names))
        if not names or not self.notifies:
            return
        with self.connection.cursor() as cursor:
            # Queue names are validated to a safe character set; parameters all the same.
            cursor.execute("SELECT pg_notify(%s, q) FROM unnest(%s::text[]) AS q", [CHANNEL, names])

    def notify_finished(self, tokens: Iterable[str]) -> None:
        if not self.notifies:
            return
        payloads, current = [], ""
        for token in tokens:
            if current and len(current) + len(token) + 1 > MAX_PAYLOAD:
                payloads.append(current)
                current = ""
            current = f"{current} {token}" if current else token
        if current:
            payloads.append(current)
        if payloads:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                    [FINISHED_CHANNEL, payloads],
                )


def _limit_fields(limits: Limits, scope: str) -> dict[str, Any]:
    """A limit as the roomy claim's function reads it (migration 0010)."""
    rate = limits.rate
    return {
        "running": limits.concurrency,
        "rate": rate.count if rate else None,
        "seconds": window(rate.seconds).total_seconds() if rate else None,
        "scope": scope,
    }


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
