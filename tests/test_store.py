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
