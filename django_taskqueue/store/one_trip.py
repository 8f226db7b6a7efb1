"""PostgreSQL: a transaction's first statement sent with its BEGIN, in one round trip.

Inside ``atomic()`` psycopg opens the transaction lazily: before the first statement it sends
``BEGIN`` and waits for the answer, then sends the statement and waits again. A request whose
transaction is one enqueue so costs three round trips (BEGIN, the insert, COMMIT) where two
do: sent as one simple-protocol message, ``BEGIN; <statement>`` opens the same transaction and
runs the statement in it. On this machine that made one enqueue per ``atomic()`` 6% to 22% faster
(docs/benchmarks.md#single-enqueue-in-two-round-trips-7-december-2026).

The statement goes through Django's cursor and every execute wrapper as usual; psycopg sends
it, waits for it (a Ctrl-C cancels it), checks its results and raises its errors, which Django
turns into its own. Only the innermost step changes, and only for this one statement when
psycopg would send a BEGIN of its own just before it (psycopg 3, not autocommit, no
transaction open, no pipeline, a client-side binding cursor): the BEGIN goes in front of the
statement and psycopg is told, for that one call, not to send its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

try:
    import psycopg
    from psycopg.pq import PipelineStatus, TransactionStatus
except ImportError:  # no psycopg 3 (a SQLite-only install, or psycopg2): the usual path only
    HAS_PSYCOPG = False
else:
    HAS_PSYCOPG = True

Row = tuple[Any, ...]


def fetch_rows(database: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[Row]:
    """The rows of one statement, its BEGIN sent with it when it opens the transaction."""
    with database.cursor() as cursor:
        if not HAS_PSYCOPG or not isinstance(database.connection, psycopg.Connection):
            cursor.execute(sql, params)
            return list(cursor.fetchall())
        folded = False

        def with_begin(
            execute: Callable[..., Any],
            sql: str,
            params: Sequence[Any],
            many: bool,
            context: dict[str, Any],
        ) -> Any:
            nonlocal folded
            connection = database.connection
            # Another statement (one an outer wrapper sends itself) goes as it came.
            if folded or context["cursor"] is not cursor or not _opens_transaction(cursor):
                return execute(sql, params, many, context)
            folded = True
            connection._autocommit = True  # for this call only: no BEGIN of psycopg's own
            try:
                return execute(f"{_begin(connection)}; {sql}", params, many, context)
            finally:
                connection._autocommit = False

        with database.execute_wrapper(with_begin):
            cursor.execute(sql, params)
        if folded:
            cursor.nextset()  # past the BEGIN's result, to the statement's
        return list(cursor.fetchall())


def _opens_transaction(cursor: Any) -> bool:
    """Whether psycopg would send a BEGIN before this (Django) cursor's next statement."""
    connection = cursor.db.connection
    return (
        not connection.autocommit
        and connection.pgconn.transaction_status == TransactionStatus.IDLE
        and connection.pgconn.pipeline_status == PipelineStatus.OFF
        and isinstance(cursor.cursor, psycopg.ClientCursor)
    )


def _begin(connection: psycopg.Connection[Any]) -> str:
    """The BEGIN psycopg would send, with the connection's transaction characteristics."""
    return _begin_command(connection.isolation_level, connection.read_only, connection.deferrable)


@functools.cache
def _begin_command(
    isolation_level: psycopg.IsolationLevel | None,
    read_only: bool | None,
    deferrable: bool | None,
) -> str:
    parts = ["BEGIN"]
    if isolation_level is not None:
        level = psycopg.IsolationLevel(isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if read_only is not None:
        parts.append("READ ONLY" if read_only else "READ WRITE")
    if deferrable is not None:
        parts.append("DEFERRABLE" if deferrable else "NOT DEFERRABLE")
    return " ".join(parts)
