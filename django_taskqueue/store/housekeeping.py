"""Housekeeping statements: recovering the items of dead runners, pruning finished items."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Case, F, When
from django.utils import timezone

from ..models import QueueItem, QueueItemAttempt, Workflow
from .dependencies import Followers
from .records import Failure

logger = logging.getLogger("django_taskqueue.runner")


class Housekeeping:
    """The maintenance statements of ``QueueStore``."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        def notify(self, queue_names: Iterable[str]) -> None: ...
        def settle_finished(
            self, finished: Sequence[int], followers: dict[int, Followers] | None = None
        ) -> None: ...

    def recover_stuck(self, unstuck_minutes: float) -> dict[str, int]:
        """Give running items of dead runners back to the queue, or fail them if out of
        attempts. A runner is dead when it has not heartbeaten for ``unstuck_minutes``; its
        attempt counts as spent (the handler may have run), so an item that crashes its
        runner every time cannot loop forever."""
        now = timezone.now()
        cutoff = now - timedelta(minutes=unstuck_minutes)
        message = (
            f"Runner lost: no heartbeat for {unstuck_minutes:g} minute(s) while this item ran."
        )
        failure = Failure("django_taskqueue.exceptions.RunnerLost", message)
        items = QueueItem.all_objects.using(self.using)
        with transaction.atomic(using=self.using):
            stuck = list(
                items.stuck(cutoff)
                .select_for_update(skip_locked=True, of=("self",))
                .values(
                    "id",
                    "attempts",
                    "max_attempts",
                    "started_at",
                    "runner_id",
                    "queue_name",
                    "definition_id",
                    "created_at",
                )
            )
            if not stuck:
                return {"requeued": 0, "failed": 0}
            retry = [row for row in stuck if row["attempts"] < row["max_attempts"]]
            exhausted = [row["id"] for row in stuck if row["attempts"] >= row["max_attempts"]]
            common = {
                "runner": None,
                "updated_at": now,
                "last_error": message,
                "last_error_class": failure.class_path,
                "last_error_message": message,
                "cancel_requested": False,
            }
            running = {"status": QueueItem.Status.RUNNING}
            items.filter(pk__in=[row["id"] for row in retry], **running).update(
                status=QueueItem.Status.QUEUED, run_at=now, **common
            )
            items.filter(pk__in=exhausted, **running).update(
                status=QueueItem.Status.FAILED,
                completed_at=now,
                # A finished item gives its unique key back, unless it is held for a period.
                unique_claim=Case(When(unique_scope="period", then=F("unique_claim"))),
                **common,
            )
            QueueItemAttempt.objects.using(self.using).bulk_create(
                QueueItemAttempt(
                    item_id=row["id"],
                    number=row["attempts"],
                    runner_name=row["runner_id"] or "",
                    started_at=row["started_at"],
                    finished_at=now,
                    outcome=QueueItemAttempt.Outcome.LOST,
                    error=message,
                    error_class=failure.class_path,
                    error_message=message,
                    queue_name=row["queue_name"],
                    definition_id=row["definition_id"],
                    enqueued_at=row["created_at"],
                )
                for row in stuck
            )
            self.notify(row["queue_name"] for row in retry)
            self.settle_finished(sorted(exhausted))
        logger.warning(
            "Recovered %d stuck item(s): %d requeued, %d failed",
            len(stuck),
            len(retry),
            len(exhausted),
        )
        return {"requeued": len(retry), "failed": len(exhausted)}

    def prune_batch(self, status: str, cutoff: datetime, size: int) -> int:
        """Delete up to ``size`` items of ``status`` that finished before ``cutoff``, the
        longest finished first, with their attempts, dependency links and webhook deliveries;
        how many. One short transaction, so pruning a table of millions never holds locks
        (or a snapshot) for long; on PostgreSQL, rows another runner is pruning are skipped."""
        finished = QueueItem.all_objects.using(self.using).filter(
            status=status, completed_at__lt=cutoff
        )
        with transaction.atomic(using=self.using):
            doomed = finished.order_by("completed_at").select_for_update(skip_locked=True)
            ids = list(doomed.values_list("pk", flat=True)[:size])
            if not ids:
                return 0
            _, per_model = QueueItem.all_objects.using(self.using).filter(pk__in=ids).delete()
        return per_model.get(QueueItem._meta.label, 0)

    def prune_empty_workflows(self, cutoff: datetime) -> int:
        """Delete the finished workflows of before ``cutoff`` that have no step left."""
        _, per_model = (
            Workflow.objects.using(self.using)
            .filter(
                status__in=Workflow.FINISHED_STATUSES,
                completed_at__lt=cutoff,
                items__isnull=True,
            )
            .delete()
        )
        return per_model.get(Workflow._meta.label, 0)
