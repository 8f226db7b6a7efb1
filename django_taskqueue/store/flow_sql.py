"""The statements of the planned claim (``flow.py``), as each engine spells them.

PostgreSQL walks the claim index once per queue (``LATERAL``) and skips rows another claim
has locked; SQLite, whose one writer holds every row already, spells the walk as a
``UNION ALL`` and keeps ``run_at`` out of the index search (the unary ``+``). The keyed
candidates and the claim by ids read the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import QueueItem, TaskDefinition

ITEMS = QueueItem._meta.db_table
DEFINITIONS = TaskDefinition._meta.db_table
_DUE = "status = 'queued' AND deleted_at IS NULL"
_COLUMNS = "id, definition_id, queue_name, priority, run_at, concurrency_key"
# The scope name of an item's key, as ``flow.key_scope`` writes it.
_KEY_SCOPE = "('key:' || CAST(definition_id AS TEXT) || ':' || concurrency_key)"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def probe_sql(queues: Sequence[str], now: Any, limited: Sequence[int]) -> tuple[str, list[Any]]:
    """Rows ``(0, 0)`` if keyed items are due on ``queues``, and ``(1, id)`` for each limited
    definition with due items there."""
    in_queues = f"queue_name IN ({_marks(queues)})"
    sql = (
        f"SELECT 0, 0 WHERE EXISTS (SELECT 1 FROM {ITEMS} WHERE {_DUE} "
        f"AND concurrency_key IS NOT NULL AND {in_queues} AND run_at <= %s)"
    )
    params: list[Any] = [*queues, now]
    if limited:
        sql += (
            f" UNION ALL SELECT 1, d.id FROM {DEFINITIONS} AS d WHERE d.id IN ({_marks(limited)})"
            f" AND EXISTS (SELECT 1 FROM {ITEMS} WHERE definition_id = d.id AND {_DUE}"
            f" AND {in_queues} AND run_at <= %s)"
        )
        params += [*limited, *queues, now]
    return sql, params


def _exclusions(definitions: Sequence[int], keys: Sequence[str]) -> tuple[str, list[Any]]:
    sql, params = "", list[Any]()
    if definitions:
        sql += f" AND definition_id NOT IN ({_marks(definitions)})"
        params += list(definitions)
    if keys:
        sql += f" AND {_KEY_SCOPE} NOT IN ({_marks(keys)})"
        params += list(keys)
    return sql, params


def candidates_sql(
    queues: Sequence[str],
    now: Any,
    count: int,
    skip_definitions: Sequence[int],
    skip_keys: Sequence[str],
    keyed: bool,
    vendor: str,
) -> tuple[str, list[Any]]:
    """Up to ``count`` due items per queue without a key, in claim order; or, ``keyed``, up
    to ``count`` due keyed items in turn order. Rows: the columns of ``flow.Candidate``."""
    excluded, excluded_params = _exclusions(skip_definitions, skip_keys)
    if keyed:
        sql = f"""
SELECT {_COLUMNS}, turn FROM (
    SELECT {_COLUMNS}, ROW_NUMBER() OVER (
        PARTITION BY queue_name, priority, concurrency_key ORDER BY run_at, id
    ) AS turn
    FROM {ITEMS}
    WHERE {_DUE} AND concurrency_key IS NOT NULL AND queue_name IN ({_marks(queues)})
          AND run_at <= %s {excluded}
) AS k
ORDER BY priority DESC, turn, run_at, id
LIMIT %s"""
        return sql, [*queues, now, *excluded_params, count]
    if vendor == "postgresql":
        sql = f"""
SELECT c.* FROM unnest(%s::text[]) AS q(name), LATERAL (
    SELECT {_COLUMNS}, 0 AS turn FROM {ITEMS}
    WHERE {_DUE} AND concurrency_key IS NULL AND queue_name = q.name AND run_at <= %s
          {excluded}
    ORDER BY priority DESC, run_at, id
    LIMIT %s
    FOR NO KEY UPDATE SKIP LOCKED
) AS c"""
        return sql, [list(queues), now, *excluded_params, count]
    one_queue = f"""
SELECT * FROM (
    SELECT {_COLUMNS}, 0 AS turn FROM {ITEMS}
    WHERE {_DUE} AND concurrency_key IS NULL AND queue_name = %s AND +run_at <= %s {excluded}
    ORDER BY priority DESC, run_at, id
    LIMIT %s
)"""
    sql = " UNION ALL ".join([one_queue] * len(queues))
    return sql, [v for queue in queues for v in (queue, now, *excluded_params, count)]


def claim_ids_sql(ids: Sequence[int], now: Any, runner_id: str) -> tuple[str, list[Any]]:
    sql = f"""
UPDATE {ITEMS}
SET status = 'running', attempts = attempts + 1, started_at = %s, updated_at = %s,
    runner_id = %s, cancel_requested = FALSE,
    unique_claim = CASE WHEN unique_scope = 'queued' THEN NULL ELSE unique_claim END
WHERE id IN ({_marks(ids)}) AND {_DUE}
RETURNING id, definition_id, queue_name, parameters, attempts, max_attempts, priority"""
    return sql, [now, now, runner_id, *ids]
