"""The store's interface, and the statements that read the same on both databases.

A ``QueueStore`` serves one database alias. The vendor classes (``postgres.py``,
``sqlite.py``) write the statements the two engines spell differently: the insert, the
claim, the outcome batch, the wake-up and the row estimate. Everything else is here, written
with the ORM or with SQL both engines accept. Nothing outside this package sends a
statement to the queue's tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import NOT_PROVIDED, Count, F, QuerySet
from django.utils import timezone

from ..models import QueueItem, QueueItemAttempt, QueueState, Runner, Schedule, TaskDefinition
from ..validation import MAX_ITEM_ID
from .dependencies import Dependencies
from .flow import FlowControl
from .housekeeping import Housekeeping
from .records import ClaimedItem, Outcome
from .settling import Settling
from .stats import QueueStatistics
from .tracecontexts import TraceContexts
from .transitions import ItemTransitions
from .uniqueness import UniqueItems
from .waiting import WaitingReasons

logger = logging.getLogger("django_taskqueue.runner")

# The errors that mean "the database cannot be reached", which runners wait out. Any other
# error while writing is about the values written, and concerns only the items concerned.
OUTAGE_ERRORS = (OperationalError, InterfaceError)

ITEMS = QueueItem._meta.db_table
DEFINITIONS = TaskDefinition._meta.db_table
ATTEMPTS = QueueItemAttempt._meta.db_table
QUEUES = QueueState._meta.db_table

# The columns the one INSERT of an item names; every other column must have a db_default.
INSERTED_COLUMNS = (
    "definition_id",
    "queue_name",
    "parameters",
    "max_attempts",
    "priority",
    "run_at",
    "created_at",
    "updated_at",
)


def _columns_left_to_the_database() -> list[str]:
    """Fail at import, not in production, when a new column has no value on insert."""
    missing = [
        str(field.column)
        for field in QueueItem._meta.concrete_fields
        if not field.primary_key
        and field.column not in INSERTED_COLUMNS
        and not field.null
        and field.db_default is NOT_PROVIDED
    ]
    if missing:
        raise ImproperlyConfigured(
            f"QueueItem column(s) {', '.join(missing)} are neither inserted by the store nor "
            "given a db_default; the enqueue INSERT would fail."
        )
    return [
        str(f.column) for f in QueueItem._meta.concrete_fields if f.column not in INSERTED_COLUMNS
    ]


DATABASE_DEFAULTED_COLUMNS = _columns_left_to_the_database()


def outcome_row(outcome: Outcome) -> tuple[Any, ...]:
    """The values of one outcome as both vendors' outcome statements take them: item id,
    status, output, traceback, error class, error message, details, completed_at, retry_at,
    finished_at, attempt number, attempt outcome, started_at."""
    failure = outcome.failure
    return (
        outcome.item_id,
        outcome.status,
        outcome.output_json,
        failure.text if failure else "",
        failure.class_path if failure else "",
        failure.message if failure else "",
        outcome.details,
        None if outcome.status == "queued" else outcome.finished_at,
        outcome.retry_at,
        outcome.finished_at,
        outcome.attempt,
        outcome.attempt_outcome,
        outcome.started_at,
    )


class QueueStore(
    QueueStatistics,
    Housekeeping,
    ItemTransitions,
    UniqueItems,
    FlowControl,
    WaitingReasons,
    Dependencies,
    Settling,
    TraceContexts,
):
    """Every statement the queue sends to one database alias."""

    vendor: ClassVar[str]

    def __init__(self, using: str) -> None:
        self.using = using

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.using]

    def adapt(self, value: datetime | None) -> Any:
        return None if value is None else self.connection.ops.adapt_datetimefield_value(value)

    # ------------------------------------------------------------------ vendor statements
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
        """Insert one item per JSON text in ``parameters`` for the usable definition of
        ``alias``, in order, and wake the runners of its queue at commit.

        Returns ``(id, definition_id, queue_name, max_attempts, priority)`` per item, or None
        when no active definition row exists (the caller creates it or says why not). One
        statement, whether one item or thousands: the definition's defaults are read by the
        INSERT itself.
        """
        raise NotImplementedError

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
        """Mark up to ``limit`` ready items of ``queues`` as running for ``runner_id``, of
        every definition up to ``newest_definition`` but ``skip_definitions``: the plain
        claim, with no limit in force (``flow.py`` plans the others)."""
        raise NotImplementedError

    def record_outcomes(
        self, outcomes: Sequence[Outcome], runner_id: str, runner_name: str
    ) -> None:
        """Write a batch of outcomes and their attempt rows; a no-op for an empty batch.

        Each item is written only while ``runner_id`` still holds it (an operator may have
        canceled it, or recovery handed it on); its attempt row is written regardless: the
        handler did run, and the history says so. The items it finishes are settled
        (``settle_finished``) in the same transaction.
        """
        raise NotImplementedError

    def notify(self, queue_names: Iterable[str]) -> None:
        """Wake the runners of these queues (at commit, inside a transaction)."""

    def notify_finished(self, tokens: Iterable[str]) -> None:
        """Tell ``wait()`` callers (at commit) that items (``"7"``) or workflows (``"w3"``)
        finished. SQLite has no channel: waiters poll."""

    def estimated_count(self, queryset: QuerySet, exact_below: int = 100_000) -> int:
        """A count of ``queryset`` that stays cheap on tables of millions of rows: exact on
        tables under ``exact_below`` rows (and always on SQLite), estimated above."""
        return queryset.count()

    # ------------------------------------------------------------------ outcomes, one by one
    def record_outcomes_one_by_one(
        self, outcomes: list[Outcome], runner_id: str, runner_name: str
    ) -> None:
        """Write each outcome in its own transaction, after a batch write failed.

        An outcome the database refuses is replaced by a failure saying why, so one bad value
        costs its own item only: the others are written and the runner goes on. Outages are
        not handled here; they propagate, and ``outcomes`` then holds just the ones not yet
        written (each written one is removed from it), for the caller to put back.
        """
        for outcome in list(outcomes):
            try:
                with transaction.atomic(using=self.using):
                    self.record_outcomes([outcome], runner_id, runner_name)
            except OUTAGE_ERRORS:
                raise
            except Exception as exc:  # noqa: BLE001 - any refusal of the values is this item's
                logger.error("Could not store the outcome of item #%d (%r)", outcome.item_id, exc)
                try:
                    with transaction.atomic(using=self.using):
                        self.record_outcomes([outcome.unstorable(exc)], runner_id, runner_name)
                except OUTAGE_ERRORS:
                    raise
                except Exception:  # noqa: BLE001
                    logger.exception(
                        "Could not fail item #%d either; it stays running until recovery "
                        "takes it after this runner stops",
                        outcome.item_id,
                    )
            del outcomes[0]  # written (or given up on): the caller must not put it back

    # ------------------------------------------------------------------ runners
    def register_runner(
        self, runner_id: str, hostname: str, pid: int, queues: list[str], concurrency: int
    ) -> None:
        Runner.objects.using(self.using).create(
            id=runner_id, hostname=hostname, pid=pid, queues=queues, concurrency=concurrency
        )

    def heartbeat(self, runner_id: str) -> None:
        Runner.objects.using(self.using).filter(pk=runner_id).update(heartbeat_at=timezone.now())

    def mark_runner_stopped(self, runner_id: str) -> None:
        Runner.objects.using(self.using).filter(pk=runner_id).update(stopped_at=timezone.now())

    def live_runners(self) -> list[Runner]:
        return list(Runner.objects.using(self.using).live().order_by("hostname", "pid"))

    def stale_runners(self, live_after: datetime, dead_before: datetime) -> list[Runner]:
        """Runners silent since before ``live_after`` but not yet given up on (since
        ``dead_before``), at most ten, the most silent first."""
        rows = Runner.objects.using(self.using).filter(
            stopped_at__isnull=True, heartbeat_at__lt=live_after, heartbeat_at__gte=dead_before
        )
        return list(rows.order_by("heartbeat_at")[:10])

    def cancel_requests(self, runner_id: str) -> list[int]:
        """Items this runner holds that an operator asked to cancel."""
        return list(
            QueueItem.all_objects.using(self.using)
            .filter(runner_id=runner_id, status=QueueItem.Status.RUNNING, cancel_requested=True)
            .values_list("pk", flat=True)
        )

    def release(self, runner_id: str, item_ids: list[int]) -> int:
        """Hand unfinished items back to the queue without spending an attempt on them."""
        if not item_ids:
            return 0
        return (
            QueueItem.all_objects.using(self.using)
            .filter(pk__in=item_ids, status=QueueItem.Status.RUNNING, runner_id=runner_id)
            .update(
                status=QueueItem.Status.QUEUED,
                attempts=F("attempts") - 1,
                runner=None,
                cancel_requested=False,
            )
        )

    def edit_waiting_item(self, item_id: int, changes: dict[str, Any]) -> bool:
        """Write an operator's edit of where and when an item runs, only if it still waits
        (a runner may have claimed it since the form was opened); whether it was written."""
        waiting = (QueueItem.Status.QUEUED, QueueItem.Status.PAUSED)
        return bool(
            QueueItem.all_objects.using(self.using)
            .filter(pk=item_id, status__in=waiting, deleted_at__isnull=True)
            .update(**changes, updated_at=timezone.now())
        )

    def definitions(self, ids: Iterable[int]) -> list[TaskDefinition]:
        return list(TaskDefinition.all_objects.using(self.using).filter(pk__in=list(ids)))

    def active_definition_queues(self) -> dict[str, str]:
        """Alias to default queue, for the definitions enqueue would accept."""
        rows = TaskDefinition.objects.using(self.using).filter(is_active=True)
        return dict(rows.values_list("alias", "queue_name"))

    def waiting_later(self, queues: Sequence[str], now: datetime) -> dict[str, int]:
        """Queued items of ``queues`` not due yet (delays, retries waiting out a backoff)."""
        rows = (
            QueueItem.objects.using(self.using)
            .filter(status=QueueItem.Status.QUEUED, queue_name__in=list(queues), run_at__gt=now)
            .values_list("queue_name")
            .annotate(count=Count("pk"))
        )
        return dict(rows.order_by())

    # ------------------------------------------------------------------ queue switches
    def paused_queues(self, queues: Sequence[str] | None = None) -> set[str]:
        rows = QueueState.objects.using(self.using).filter(is_paused=True)
        if queues is not None:
            rows = rows.filter(name__in=list(queues))
        return set(rows.values_list("name", flat=True))

    def known_queue_names(self) -> set[str]:
        """Queues named by definitions, queue switches and live runners: small tables only."""
        names = set(
            TaskDefinition.all_objects.using(self.using).values_list("queue_name", flat=True)
        )
        names |= set(QueueState.objects.using(self.using).values_list("name", flat=True))
        for queues in Runner.objects.using(self.using).live().values_list("queues", flat=True):
            names.update(queues)
        return names

    def schedule_tenants(self) -> set[str]:
        """The tenants schedules name: the admin's tenant filter offers them."""
        rows = Schedule.objects.using(self.using).filter(tenant__isnull=False)
        return set(rows.values_list("tenant", flat=True))

    def set_queue_paused(self, name: str, paused: bool) -> None:
        with transaction.atomic(using=self.using):
            QueueState.objects.using(self.using).update_or_create(
                name=name, defaults={"is_paused": paused}
            )
            if not paused:
                self.notify([name])
