"""The roomy claim: under limits that cannot bind, a claim is the plain one guarded by the
locks and the usage read (one call on PostgreSQL), and still never exceeds a limit that is
nearly used up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskqueue import enqueue_many
from django_taskqueue.models import LimitStart, QueueItem, QueueState, Runner, TaskDefinition
from django_taskqueue.store import get_store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limited() -> TaskDefinition:
    """ "Record" at 100 running and 100 starts a second, with 30 items due."""
    enqueue_many("Record", [{}] * 30)
    TaskDefinition.objects.filter(alias="Record").update(concurrency_limit=100, rate_limit="100/s")
    Runner.objects.create(id="r", hostname="h", pid=1, concurrency=10)
    return TaskDefinition.objects.get(alias="Record")


def _claim(limit: int = 10):
    store = get_store()
    rules = store.flow_rules()
    with CaptureQueriesContext(connection) as statements, transaction.atomic():
        claim = store.claim_within_limits(["tests"], limit, "r", timezone.now(), rules)
    sent = [q["sql"] for q in statements.captured_queries]
    return claim, [sql for sql in sent if sql not in ("BEGIN", "COMMIT")]


def _starts(scope: str) -> int:
    return sum(LimitStart.objects.filter(scope=scope).values_list("count", flat=True))


def test_a_claim_far_from_every_limit_takes_its_fill_and_counts_its_starts(limited):
    claim, statements = _claim()
    assert len(claim.items) == 10
    assert _starts(f"definition:{limited.pk}") == 10
    if connection.vendor == "postgresql":
        assert len(statements) == 1  # locks, usage, claim and ledger: one call


def test_a_rate_limit_nearly_used_up_lets_the_claim_take_only_its_room(limited):
    LimitStart.objects.create(scope=f"definition:{limited.pk}", started_at=timezone.now(), count=95)
    claim, _ = _claim()
    assert len(claim.items) == 5
    assert _starts(f"definition:{limited.pk}") == 100


def test_starts_outside_the_window_leave_the_claim_roomy(limited):
    long_ago = timezone.now() - timedelta(seconds=5)
    LimitStart.objects.create(scope=f"definition:{limited.pk}", started_at=long_ago, count=95)
    claim, _ = _claim()
    assert len(claim.items) == 10


def test_a_concurrency_limit_nearly_used_up_lets_the_claim_take_only_its_room(limited):
    running = enqueue_many("Record", [{}] * 96)
    QueueItem.objects.filter(pk__in=running).update(status="running", runner_id="r")
    claim, _ = _claim()
    assert len(claim.items) == 4
    assert QueueItem.objects.filter(definition=limited, status="running").count() == 100


def test_a_queue_rate_limit_nearly_used_up_counts_every_definition(limited):
    QueueState.objects.create(name="tests", rate_limit="50/s")
    LimitStart.objects.create(scope="queue:tests", started_at=timezone.now(), count=43)
    enqueue_many("Stamp", [{}] * 10)
    claim, _ = _claim()
    assert len(claim.items) == 7
    assert _starts("queue:tests") == 50
    assert _starts(f"definition:{limited.pk}") == sum(
        1 for item in claim.items if item.definition_id == limited.pk
    )


def test_a_claim_larger_than_a_limit_is_planned_and_stays_within_it(limited):
    TaskDefinition.objects.filter(pk=limited.pk).update(concurrency_limit=3)
    claim, _ = _claim()
    assert len(claim.items) == 3
