"""The statements of the planned claim (``flow.py``), as each engine spells them.

PostgreSQL walks the claim index once per queue (``LATERAL``) and skips rows another claim
has locked; SQLite, whose one writer holds every row already, spells the walk as a
``UNION ALL`` and keeps ``run_at`` out of the index search (the unary ``+``). The keyed
candidates and the claim by ids read the same on both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import LimitStart, QueueItem, TaskDefinition

ITEMS = QueueItem._meta.db_table
DEFINITIONS = TaskDefinition._meta.db_table
STARTS = LimitStart._meta.db_table
_DUE = "status = 'queued' AND deleted_at IS NULL"
_COLUMNS = "id, definition_id, queue_name, priority, run_at, concurrency_key"
# The scope name of an item's key, as ``flow.key_scope`` writes it.
_KEY_SCOPE = "('key:' || CAST(definition_id AS TEXT) || ':' || concurrency_key)"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def keyed_due_sql(queues: Sequence[str], now: Any) -> tuple[str, list[Any]]:
    """One row if keyed items are due on ``queues`` (the keyed index answers it)."""
    sql = (
        f"SELECT 1 FROM {ITEMS} WHERE {_DUE} AND concurrency_key IS NOT NULL "
        f"AND queue_name IN ({_marks(queues)}) AND run_at <= %s LIMIT 1"
    )
    return sql, [*queues, now]


def due_definitions_sql(
    limited: Sequence[int], queues: Sequence[str], now: Any, lock: str = ""
) -> tuple[str, list[Any]]:
    """The ids of the ``limited`` definitions with items due on ``queues``, in id order, each
    a look-up in ``task_queue_def_due_idx``; ``lock`` is a locking clause for the rows.

    Only that index can serve it, on purpose: on a table whose statistics lag (a bulk load
    not yet analysed), PostgreSQL would otherwise pick the claim's partial index or the
    (queue, status) one and walk every due item of the queue for each definition. So the
    look-up leaves out ``deleted_at IS NULL`` (the partial indexes' condition; a soft-deleted
    item only makes its definition look due, which costs a planned claim, nothing more) and
    compares ``queue_name || ''``, which no index on the queue's name serves."""
    sql = (
        f"SELECT d.id FROM {DEFINITIONS} AS d WHERE d.id IN ({_marks(limited)}) "
        f"AND EXISTS (SELECT 1 FROM {ITEMS} WHERE definition_id = d.id AND status = 'queued' "
        f"AND queue_name || '' IN ({_marks(queues)}) AND run_at <= %s) ORDER BY d.id {lock}"
    )
    return sql, [*limited, *queues, now]


def _exclusions(
    newest: int, definitions: Sequence[int], keys: Sequence[str]
) -> tuple[str, list[Any]]:
    sql, params = " AND definition_id <= %s", list[Any]([newest])
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
    newest: int,
    skip_definitions: Sequence[int],
    skip_keys: Sequence[str],
    keyed: bool,
    vendor: str,
) -> tuple[str, list[Any]]:
    """Up to ``count`` due items per queue without a key, in claim order; or, ``keyed``, up
    to ``count`` due keyed items in turn order. Rows: the columns of ``flow.Candidate``."""
    excluded, excluded_params = _exclusions(newest, skip_definitions, skip_keys)
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


@dataclass
class Window:
    scopes: list[str] = field(default_factory=list)  # rate limits by name
    prefixes: list[str] = field(default_factory=list)  # every key's of a definition


@dataclass
class UsageReads:
    """What a planned claim reads of the usage: running items per definition, per key (of the
    definitions listed) and per queue, and the starts in each window length."""

    running_definitions: list[int] = field(default_factory=list)
    running_keys: list[int] = field(default_factory=list)
    running_queues: list[str] = field(default_factory=list)
    windows: dict[float, Window] = field(default_factory=dict)

    def window(self, seconds: float) -> Window:
        return self.windows.setdefault(seconds, Window())

    def __bool__(self) -> bool:
        return bool(
            self.running_definitions or self.running_keys or self.running_queues or self.windows
        )


def usage_sql(reads: UsageReads, since: Callable[[float], Any]) -> tuple[str, list[Any]]:
    """One statement: rows ``(scope name, used)`` as ``flow.py`` names scopes; ``since``
    gives the start of a window of so many seconds, adapted for the database."""
    parts: list[str] = []
    params: list[Any] = []
    running = f"FROM {ITEMS} WHERE status = 'running'"
    if reads.running_definitions:
        parts.append(
            f"SELECT 'running:definition:' || CAST(definition_id AS TEXT), COUNT(*) {running} "
            f"AND definition_id IN ({_marks(reads.running_definitions)}) GROUP BY definition_id"
        )
        params += reads.running_definitions
    if reads.running_keys:
        parts.append(
            f"SELECT 'running:' || {_KEY_SCOPE}, COUNT(*) {running} "
            f"AND definition_id IN ({_marks(reads.running_keys)}) AND concurrency_key IS NOT NULL "
            "GROUP BY definition_id, concurrency_key"
        )
        params += reads.running_keys
    if reads.running_queues:
        parts.append(
            f"SELECT 'running:queue:' || queue_name, COUNT(*) {running} "
            f"AND queue_name IN ({_marks(reads.running_queues)}) GROUP BY queue_name"
        )
        params += reads.running_queues
    for seconds, window in reads.windows.items():
        which = []
        if window.scopes:
            which.append(f"scope IN ({_marks(window.scopes)})")
            params += window.scopes
        for prefix in window.prefixes:  # "key:ID:": digits and colons, nothing LIKE reads
            which.append("scope LIKE %s")
            params.append(prefix + "%")
        parts.append(
            f"SELECT scope, SUM(count) FROM {STARTS} WHERE ({' OR '.join(which)}) "
            "AND started_at > %s GROUP BY scope"
        )
        params.append(since(seconds))
    return " UNION ALL ".join(parts), params


def bound_sql(
    reads: UsageReads, most_used: dict[str, int], since: Callable[[float], Any]
) -> tuple[str, list[Any]]:
    """One row if some limit is used more than ``most_used`` allows (the usage that ``reads``
    asks for); ``since`` as for ``usage_sql``."""
    usage, params = usage_sql(reads, since)
    condition = " OR ".join(["(scope = %s AND n > %s)"] * len(most_used))
    params += [value for pair in most_used.items() for value in pair]
    return f"WITH used(scope, n) AS ({usage}) SELECT 1 FROM used WHERE {condition} LIMIT 1", params
