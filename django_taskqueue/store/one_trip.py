"""PostgreSQL: a transaction's first statement sent with its BEGIN, in one round trip.

Inside ``atomic()`` psycopg opens the transaction lazily: before the first statement it sends
``BEGIN`` and waits for the answer, then sends the statement and waits again. A request whose
transaction is one enqueue so costs three round trips (BEGIN, the insert, COMMIT) where two
do: sent as one simple-protocol message, ``BEGIN; <statement>`` opens the same transaction and
runs the statement in it. On this machine that made one enqueue per ``atomic()`` 1.2x faster
(docs/benchmarks.md#single-enqueue-in-two-round-trips-7-december-2026).

The statement still goes through Django's cursor, as the innermost ``execute_wrapper``, so
query logging, other execute wrappers and Django's database errors see it as usual. Only when
psycopg would send the BEGIN itself (not autocommit, no transaction open, no pipeline, a
client-side binding cursor) does the wrapper send the two together; otherwise the statement
takes the usual path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

try:
    import psycopg
    from psycopg.adapt import Transformer
    from psycopg.pq import ConnStatus, ExecStatus, PipelineStatus, TransactionStatus
except ImportError:  # a SQLite-only install, where no PostgreSQL store is ever made
    pass

Row = tuple[Any, ...]


def fetch_rows(database: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> list[Row]:
    """The rows of one statement, its BEGIN sent with it when it opens the transaction."""
    with database.execute_wrapper(_with_begin), database.cursor() as cursor:
        rows: list[Row] = cursor.execute(sql, params)
    return rows


def _with_begin(
    execute: Callable[..., Any],
    sql: str,
    params: Sequence[Any],
    many: bool,
    context: dict[str, Any],
) -> list[Row]:
    database, cursor = context["connection"], context["cursor"]
    connection: psycopg.Connection[Any] = database.connection
    if many or not _opens_transaction(connection, cursor.cursor):
        execute(sql, params, many, context)
        return list(cursor.fetchall())
    database.validate_no_broken_transaction()
    with database.wrap_database_errors:
        encoding = connection.info.encoding
        statement = cursor.cursor.mogrify(sql, params).encode(encoding)
        result = connection.pgconn.exec_(_begin(connection) + b"; " + statement)
        if result.status not in (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK):
            if connection.pgconn.status == ConnStatus.BAD:
                message = connection.pgconn.error_message.decode(encoding, "replace")
                raise psycopg.OperationalError(message.strip() or "connection lost")
            raise psycopg.errors.error_from_result(result, encoding=encoding)
        # Typed by the cursor's own loaders, as psycopg would have.
        loader = Transformer.from_context(cursor.cursor)
        loader.set_pgresult(result)
        return loader.load_rows(0, result.ntuples, tuple)


def _opens_transaction(connection: psycopg.Connection[Any], cursor: Any) -> bool:
    """Whether psycopg would send a BEGIN before this cursor's next statement."""
    pgconn = connection.pgconn
    return (
        not connection.autocommit
        and pgconn.transaction_status == TransactionStatus.IDLE
        and pgconn.pipeline_status == PipelineStatus.OFF
        and isinstance(cursor, psycopg.ClientCursor)
    )


def _begin(connection: psycopg.Connection[Any]) -> bytes:
    """The BEGIN psycopg would send, with the connection's transaction characteristics."""
    return _begin_command(connection.isolation_level, connection.read_only, connection.deferrable)


@functools.cache
def _begin_command(
    isolation_level: psycopg.IsolationLevel | None,
    read_only: bool | None,
    deferrable: bool | None,
) -> bytes:
    parts = ["BEGIN"]
    if isolation_level is not None:
        level = psycopg.IsolationLevel(isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if read_only is not None:
        parts.append("READ ONLY" if read_only else "READ WRITE")
    if deferrable is not None:
        parts.append("DEFERRABLE" if deferrable else "NOT DEFERRABLE")
    return " ".join(parts).encode()
