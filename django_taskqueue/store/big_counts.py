"""Counts that stay quick on PostgreSQL tables of millions of items.

Counting ten million rows per queue and status reads the whole table: over a second on every
dashboard refresh, ``/metrics`` scrape and ``/api/v1/queues`` call. Once the items table holds
more than ``ESTIMATE_ABOVE_ROWS`` rows (by the planner's ``reltuples``):

- the statuses work is in (queued, waiting, running, paused) are still counted exactly: the
  claim's partial index holds just the queued items, and the ``(status, completed_at)`` index
  finds the others;
- succeeded, failed and canceled items are estimated from the multi-column statistics on
  ``(queue_name, status)`` (migration 0016) times the table's size, as ANALYZE (autovacuum)
  last saw them;
- a finished count estimated under ``EXACT_BELOW``, or one the statistics do not know, is
  counted exactly, at most ``EXACT_BELOW`` rows each: a queue's few failures are never
  rounded away.

An estimate also counts soft-deleted items. Until the table was first analysed, every count is
exact. Smaller tables are always counted exactly.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from ..models import QueueItem, QueueState, TaskDefinition

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

ESTIMATE_ABOVE_ROWS = 1_000_000
EXACT_BELOW = 5_000
STATISTICS = "task_queue_queue_status_stats"  # migration 0016
FINISHED = [str(status) for status in QueueItem.FINISHED_STATUSES]
AT_WORK = [str(s) for s in QueueItem.Status.values if s not in FINISHED and s != "queued"]

_AT_WORK_COUNTS = """
SELECT queue_name, 'queued', count(*) FROM task_queue
WHERE status = 'queued' AND deleted_at IS NULL
    AND (%(queue)s::text IS NULL OR queue_name = %(queue)s)
GROUP BY queue_name
UNION ALL
SELECT queue_name, status, count(*) FROM task_queue
WHERE status = ANY(%(at_work)s) AND deleted_at IS NULL
    AND (%(queue)s::text IS NULL OR queue_name = %(queue)s)
GROUP BY queue_name, status
"""

# One (queue, status) pair counted up to a bound, through the (queue_name, status) index. One
# branch per pair, with its values in the text: the planner then sees the pair is rare and
# takes that index (over a list of pairs it might walk all of one status's rows instead).
_BOUNDED_COUNT = """
SELECT %s, %s, count(*) FROM (
    SELECT 1 FROM task_queue
    WHERE queue_name = %s AND status = %s AND deleted_at IS NULL LIMIT %s
) AS found
"""


class EstimatedCounts:
    """The counting statements of ``PostgresStore``."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str
        connection: BaseDatabaseWrapper

        def exact_counts_by_queue_and_status(
            self, queue_name: str | None = None
        ) -> dict[str, dict[str, int]]: ...

    def table_rows(self, table: str) -> int:
        """The planner's idea of ``table``'s size; -1 before it was first analysed."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [self.connection.ops.quote_name(table)],
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else -1

    def estimated_count(self, queryset: QuerySet, exact_below: int = 100_000) -> int:
        """From the planner's statistics instead of ``COUNT(*)`` on a large table.

        When the table's ``reltuples`` says it is larger than ``exact_below``, an unfiltered
        count is that number and a filtered one is the planner's row estimate from ``EXPLAIN``.
        """
        table_rows = self.table_rows(queryset.model._meta.db_table)
        if table_rows <= exact_below:
            return queryset.count()
        if not queryset.query.where:
            return table_rows
        sql, params = queryset.order_by().values("pk").query.get_compiler(self.using).as_sql()
        with self.connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])

    def counts_by_queue_and_status(
        self, queue_name: str | None = None
    ) -> dict[str, dict[str, int]]:
        """As ``QueueStatistics``' exact counts, estimated for finished items on a big table
        (see the module's docstring)."""
        table_rows = self.table_rows(QueueItem._meta.db_table)
        big = table_rows > ESTIMATE_ABOVE_ROWS
        estimates = self._finished_estimates(table_rows) if big else None
        if estimates is None:
            return self.exact_counts_by_queue_and_status(queue_name)
        with self.connection.cursor() as cursor:
            cursor.execute(_AT_WORK_COUNTS, {"queue": queue_name, "at_work": AT_WORK})
            found = {(queue, status): n for queue, status, n in cursor.fetchall()}
        queues = {queue for queue, _ in [*found, *estimates]} | self._known_queues()
        if queue_name is not None:
            queues &= {queue_name}
        to_count = [
            (queue, status)
            for queue in sorted(queues)
            for status in FINISHED
            if estimates.get((queue, status), 0) < EXACT_BELOW
        ]
        found.update(
            {pair: n for pair, n in estimates.items() if pair[0] in queues and pair not in to_count}
        )
        found.update(self._bounded_counts(to_count, estimates))
        return _by_queue(found)

    def _finished_estimates(self, table_rows: int) -> dict[tuple[str, str], int] | None:
        """(queue, finished status) -> rows, from the statistics' most common pairs; None
        before the table was analysed with them."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT attnames, most_common_vals, most_common_freqs FROM pg_stats_ext "
                "WHERE statistics_name = %s",
                [STATISTICS],
            )
            row = cursor.fetchone()
        if row is None or row[1] is None:
            return None
        names, pairs, frequencies = row
        queue_at, status_at = names.index("queue_name"), names.index("status")
        return {
            (pair[queue_at], pair[status_at]): round(frequency * table_rows)
            for pair, frequency in zip(pairs, frequencies, strict=True)
            if pair[status_at] in FINISHED
        }

    def _known_queues(self) -> set[str]:
        """Queues a definition or a pause switch names: the statistics may miss a small one."""
        definitions = TaskDefinition.objects.using(self.using).values_list("queue_name", flat=True)
        switches = QueueState.objects.using(self.using).values_list("name", flat=True)
        return set(definitions) | set(switches)

    def _bounded_counts(
        self, pairs: list[tuple[str, str]], estimates: dict[tuple[str, str], int]
    ) -> dict[tuple[str, str], int]:
        if not pairs:
            return {}
        params = [value for q, s in pairs for value in (q, s, q, s, EXACT_BELOW)]
        with self.connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join([_BOUNDED_COUNT] * len(pairs)), params)
            counted = cursor.fetchall()
        # A count that reached the bound is at least that: the estimate, if it says more.
        return {
            (queue, status): max(n, estimates.get((queue, status), 0)) if n >= EXACT_BELOW else n
            for queue, status, n in counted
        }


def _by_queue(found: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for (queue, status), n in found.items():
        if n:
            result.setdefault(queue, {s: 0 for s in QueueItem.Status.values})[status] = n
    return dict(sorted(result.items()))

