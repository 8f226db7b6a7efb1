"""PostgreSQL: an enqueue that opens its transaction sends the BEGIN with its insert, in one
message (store/one_trip.py), and is still the same transaction in every way that matters:
rolled back with it, committed with it, with the connection's isolation level, seen by
Django's query logging and execute wrappers, and its errors are Django's errors."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import DatabaseError, InternalError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.pq import Trace

from django_taskqueue import enqueue_by_alias, enqueue_many
from django_taskqueue.models import QueueItem

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    """On PostgreSQL, with the definition of "Noop" stored (its first enqueue creates it)."""
    if connection.vendor != "postgresql":
        pytest.skip("the BEGIN psycopg sends first is PostgreSQL's; SQLite has no round trips")
    QueueItem.all_objects.filter(pk=enqueue_by_alias("Noop", {}).pk).delete()


class Boom(Exception):
    pass


@contextmanager
def sent_messages() -> Iterator[list[str]]:
    """The messages this connection sends inside the block, as libpq traces them: one line
    each, "Query" and its text for the simple protocol."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    messages: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        try:
            yield messages
        finally:
            pgconn.untrace()
            trace.seek(0)
            for line in trace.read().splitlines():
                direction, _length, kind, *text = [*line.split("\t"), "", ""]
                if direction == "F":
                    messages.append(f"{kind} {''.join(text).strip()}")


def test_an_enqueue_that_opens_the_transaction_sends_its_begin_with_the_insert():
    with sent_messages() as sent, transaction.atomic():
        item = enqueue_by_alias("Noop", {"n": 1})
    assert len(sent) == 2, sent  # the insert with its BEGIN, then the COMMIT
    assert sent[0].startswith('Query "BEGIN; SELECT * FROM django_taskqueue_enqueue(')
    assert sent[1] == 'Query "COMMIT"'
    stored = QueueItem.objects.get(pk=item.pk)
    assert (stored.parameters, stored.queue_name, stored.status) == ({"n": 1}, "tests", "queued")


def test_a_bulk_enqueue_that_opens_its_own_transaction_does_the_same():
    with sent_messages() as sent:  # enqueue_many's atomic() is the outermost here
        ids = enqueue_many("Noop", [{"n": n} for n in range(3)])
    assert [message.split(";")[0] for message in sent] == ['Query "BEGIN', 'Query "COMMIT"']
    assert [item.parameters["n"] for item in QueueItem.objects.filter(pk__in=ids)] == [2, 1, 0]


def test_the_item_is_rolled_back_with_the_transaction_it_opened():
    with pytest.raises(Boom), transaction.atomic():
        item = enqueue_by_alias("Noop", {})
        raise Boom
    assert not QueueItem.all_objects.filter(pk=item.pk).exists()
    assert enqueue_by_alias("Noop", {}).pk  # the connection is usable afterwards


def test_the_item_is_committed_with_what_follows_it_and_on_commit_runs_after():
    committed: list[bool] = []
    with transaction.atomic():
        item = enqueue_by_alias("Noop", {})
        other = enqueue_by_alias("Noop", {})  # the transaction is open now: the usual path
        transaction.on_commit(
            lambda: committed.append(QueueItem.objects.filter(pk=item.pk).exists())
        )
    assert committed == [True]
    assert QueueItem.objects.filter(pk__in=[item.pk, other.pk]).count() == 2


def test_an_enqueue_in_a_transaction_already_open_sends_only_its_insert():
    with transaction.atomic():
        QueueItem.objects.count()  # psycopg has sent the BEGIN
        with sent_messages() as sent:
            enqueue_by_alias("Noop", {})
    assert len(sent) == 1 and sent[0].startswith('Query "SELECT * FROM django_taskqueue_enqueue(')


def test_an_enqueue_in_autocommit_sends_no_begin():
    with sent_messages() as sent:
        item = enqueue_by_alias("Noop", {})
    assert len(sent) == 1 and sent[0].startswith('Query "SELECT * FROM django_taskqueue_enqueue(')
    assert QueueItem.objects.filter(pk=item.pk).exists()


def test_the_begin_carries_the_connections_isolation_level():
    connection.ensure_connection()
    raw = connection.connection
    # What DATABASES[...]["OPTIONS"]["isolation_level"] sets on every connection.
    raw.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
    try:
        with sent_messages() as sent, transaction.atomic(), connection.cursor() as cursor:
            enqueue_by_alias("Noop", {})
            cursor.execute("SHOW transaction_isolation")
            assert cursor.fetchone() == ("serializable",)
        assert sent[0].startswith('Query "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT')
    finally:
        raw.isolation_level = None


def test_a_statement_the_server_refuses_raises_djangos_error_and_rolls_back_cleanly():
    connection.ensure_connection()
    raw = connection.connection
    raw.read_only = True  # every transaction it opens refuses writes
    try:
        with sent_messages() as sent, pytest.raises(InternalError, match="read-only"):
            with transaction.atomic():
                enqueue_by_alias("Noop", {})
    finally:
        raw.read_only = None
    assert sent[0].startswith('Query "BEGIN READ ONLY; SELECT')
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not QueueItem.all_objects.exists()
    assert enqueue_by_alias("Noop", {}).pk


def test_a_lost_connection_is_djangos_operational_error_and_the_next_enqueue_reconnects():
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(connection.connection.info.dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError), transaction.atomic():
        enqueue_by_alias("Noop", {})
    connection.close_if_unusable_or_obsolete()
    assert enqueue_by_alias("Noop", {}).pk


def test_query_logging_and_execute_wrappers_see_the_statement():
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as logged, connection.execute_wrapper(spy):
        with transaction.atomic():
            enqueue_by_alias("Noop", {})
    assert any("django_taskqueue_enqueue" in sql for sql in seen)
    (insert,) = [q["sql"] for q in logged.captured_queries if "_enqueue(" in q["sql"]]
    assert insert.startswith("BEGIN; SELECT * FROM django_taskqueue_enqueue('Noop', '[{}]'")


def test_an_execute_wrapper_that_refuses_the_statement_is_obeyed():
    def blocker(execute, sql, params, many, context):
        raise DatabaseError("no database access here")

    with connection.execute_wrapper(blocker), pytest.raises(DatabaseError, match="no database"):
        with transaction.atomic():
            enqueue_by_alias("Noop", {})
    assert not QueueItem.all_objects.exists()


def test_an_outer_wrapper_that_returns_nothing_still_gets_one_item():
    def forgetful(execute, sql, params, many, context):
        execute(sql, params, many, context)  # Django's ORM never needed the value back

    with connection.execute_wrapper(forgetful), transaction.atomic():
        item = enqueue_by_alias("Noop", {"n": 7})
    assert list(QueueItem.objects.values_list("pk", "parameters")) == [(item.pk, {"n": 7})]


def test_a_statement_an_outer_wrapper_sends_itself_goes_as_it_came():
    """Such a statement opens the transaction the usual way and reads its own rows; the
    insert after it, in the same transaction, takes the usual path too."""
    settings_seen: list[object] = []

    def tagging(execute, sql, params, many, context):
        if not settings_seen:  # its own statement passes through it too
            settings_seen.append(None)
            with context["connection"].cursor() as cursor:
                cursor.execute("SELECT set_config('app.tag', %s, true)", ["request-1"])
                settings_seen[0] = cursor.fetchone()
        return execute(sql, params, many, context)

    with sent_messages() as sent, connection.execute_wrapper(tagging), transaction.atomic():
        enqueue_by_alias("Noop", {})
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tag', true)")
            assert cursor.fetchone() == ("request-1",)
    assert settings_seen[0] == ("request-1",)
    assert sent[0] == 'Query "BEGIN"'  # psycopg's own, before the wrapper's statement
    assert QueueItem.objects.count() == 1
