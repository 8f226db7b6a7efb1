"""The claim statement: atomic, ordered, and served by the partial claim index."""

import pytest
from django.db import connection
from django.utils import timezone

from django_taskqueue import enqueue_many
from django_taskqueue.models import QueueItem, Runner
from django_taskqueue.store import get_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def runner():
    return Runner.objects.create(id="r1", hostname="test", pid=1, concurrency=1)


def captured_claim(queues, limit, runner):
    statements = []

    def spy(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        claimed = get_store().claim(queues, limit, runner.pk, timezone.now())
    return claimed, statements[-1]


def plan_of(sql, params):
    select = sql[sql.index("SELECT") :] if connection.vendor == "sqlite" else sql
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE task_queue")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("ANALYZE")
            # The inner SELECT of the UPDATE is what chooses rows; its params follow the SET's.
            cursor.execute("EXPLAIN QUERY PLAN " + select.rsplit(")", 1)[0], params[3:])
        return "\n".join(str(row) for row in cursor.fetchall())


@pytest.mark.parametrize("queues", [["tests"], ["tests", "other"]])
def test_claim_uses_the_partial_index_in_order(queues, runner):
    enqueue_many("Noop", [{}] * 3000, queue_name="tests")
    enqueue_many("Noop", [{}] * 100, queue_name="other")
    QueueItem.objects.filter(pk__in=QueueItem.objects.filter(queue_name="tests")[:2500]).update(
        status="success"
    )
    claimed, (sql, params) = captured_claim(queues, 5, runner)
    assert len(claimed) == 5
    plan = plan_of(sql, params)
    assert "task_queue_claim_idx" in plan, plan
    # Only the few rows already picked per queue may be sorted, never the table's rows.
    per_queue_part = plan.split("SCAN (subquery")[0]
    assert "Sort Key: task_queue." not in plan, plan
    assert "TEMP B-TREE" not in per_queue_part, plan


def test_claim_marks_items_running_once_and_in_priority_order(runner):
    low = enqueue_many("Noop", [{}] * 3, priority=0)
    high = enqueue_many("Noop", [{}] * 2, priority=9)
    first = get_store().claim(["tests"], 3, runner.pk, timezone.now())
    second = get_store().claim(["tests"], 10, runner.pk, timezone.now())
    assert [c.id for c in first] == [high[0], high[1], low[0]]
    assert [c.id for c in second] == [low[1], low[2]]
    assert get_store().claim(["tests"], 10, runner.pk, timezone.now()) == []
    assert set(QueueItem.objects.values_list("status", "attempts", "runner")) == {
        ("running", 1, "r1")
    }


# --------------------------------------------------------------------------- the insert path


def statements_during(action):
    """The statements ``action()`` sends to the queue's database, and its result."""
    sent: list[str] = []

    def spy(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        result = action()
    return sent, result


def test_single_and_bulk_enqueue_share_one_insert_statement():
    from django_taskqueue import enqueue_by_alias

    enqueue_by_alias("Noop")  # the definition row exists from here on
    single, item = statements_during(lambda: enqueue_by_alias("Noop", {"n": 1}))
    bulk, ids = statements_during(lambda: enqueue_many("Noop", [{"n": i} for i in range(500)]))
    one_insert = ("INSERT", "SELECT * FROM django_taskqueue_enqueue(")
    inserts = [sql for sql in single + bulk if sql.lstrip().startswith(one_insert)]
    assert len(single) == 1 and len(inserts) == 2
    assert inserts[0] == inserts[1]  # the same statement, whatever the number of rows
    assert len(ids) == 500 and ids == sorted(ids) and item.pk < ids[0]
    values = list(QueueItem.objects.filter(pk__in=ids).order_by("id").values_list("parameters"))
    assert values == [({"n": i},) for i in range(500)]
    if connection.vendor == "postgresql":
        # The function plans once per session and sends the wake-up in the same statement.
        assert "django_taskqueue_enqueue" in inserts[0]


def test_columns_the_insert_does_not_name_get_their_database_default():
    from django_taskqueue.store.base import DATABASE_DEFAULTED_COLUMNS, INSERTED_COLUMNS

    item = QueueItem.objects.get(pk=enqueue_many("Noop", [{}])[0])
    assert (item.status, item.attempts, item.details, item.last_error_class) == (
        "queued",
        0,
        "",
        "",
    )
    assert "status" in DATABASE_DEFAULTED_COLUMNS and "status" not in INSERTED_COLUMNS


# --------------------------------------------------------------------------- operator actions


def test_a_transition_changes_what_it_applies_to_and_says_why_it_skipped_the_rest():
    queued, running, done = enqueue_many("Noop", [{}] * 3)
    QueueItem.objects.filter(pk=running).update(status="running")
    QueueItem.objects.filter(pk=done).update(status="success")
    result = get_store().transition("pause", QueueItem.objects.all())
    assert result.changed == {queued: "tests"}
    assert result.skipped == {
        running: f"Cannot pause item #{running}: it is running.",
        done: f"Cannot pause item #{done}: it is success.",
    }
    cancel = get_store().transition("cancel", QueueItem.objects.all())
    assert set(cancel.changed) == {queued, running} and set(cancel.skipped) == {done}
    assert QueueItem.objects.get(pk=running).cancel_requested  # the runner's to stop


def test_a_bulk_requeue_of_10000_items_is_a_handful_of_statements():
    ids = enqueue_many("Noop", [{}] * 10_000)
    QueueItem.objects.filter(pk__in=ids).update(status="failed", attempts=3)
    sent, result = statements_during(
        lambda: get_store().transition("requeue", QueueItem.objects.filter(status="failed"))
    )
    assert len(result.changed) == 10_000 and not result.skipped
    assert set(QueueItem.objects.values_list("status", "attempts")) == {("queued", 0)}
    # SELECT of the selection, one UPDATE, and on PostgreSQL one NOTIFY; SAVEPOINTs aside.
    work = [sql for sql in sent if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert len(work) <= 3, work
    print(f"10,000-item requeue: {len(sent)} statements ({len(work)} without savepoints)")


@pytest.mark.django_db(transaction=True)
def test_an_action_that_loses_a_deadlock_is_tried_again(caplog):
    """A runner settling a workflow and an operator canceling it may lock the same rows in
    opposite orders; PostgreSQL then aborts one of them, and the operator's is retried."""
    if connection.vendor != "postgresql":
        pytest.skip("row-lock deadlocks are PostgreSQL's; SQLite has one writer at a time")
    import threading
    import time

    from django.db import connections, transaction

    first, second = enqueue_many("Noop", [{}, {}])
    holds_second = threading.Event()

    def other_session() -> None:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '10s'")  # the action detects it
                cursor.execute("UPDATE task_queue SET priority = 1 WHERE id = %s", [second])
                holds_second.set()
                time.sleep(0.5)  # the action has locked the first and waits for the second
                cursor.execute("UPDATE task_queue SET priority = 1 WHERE id = %s", [first])
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_session)
    thread.start()
    holds_second.wait(10)
    with caplog.at_level("INFO", logger="django_taskqueue"):
        result = get_store().transition("cancel", QueueItem.objects.order_by("pk"))
    thread.join(30)
    assert set(result.changed) == {first, second}
    assert "cancel lost a deadlock" in caplog.text
    assert set(QueueItem.objects.values_list("status", "priority")) == {("canceled", 1)}
