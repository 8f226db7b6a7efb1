"""Concurrency limits in the claim: at most ``concurrency_limit`` running items of a
definition, across every runner on every host.

A claim that concerns limited definitions (they have due items on its queues) first locks
their rows, for the rest of the claiming transaction. Runners claiming them therefore take
turns, so the running counts read next stay true until the claim commits. The items of the
other definitions are claimed as usual, then each limited definition's, up to the room it
has left. Without limited definitions, the claim is exactly the plain one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count

from ..models import QueueItem, TaskDefinition
from .records import ClaimedItem


class ConcurrencyLimits:
    """The concurrency-limit statements of ``QueueStore``."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        def claim(
            self,
            queues: Sequence[str],
            limit: int,
            runner_id: str,
            now: datetime,
            *,
            skip_definitions: Sequence[int] = (),
            only_definition: int | None = None,
        ) -> list[ClaimedItem]: ...

    def concurrency_limits(self) -> dict[int, int]:
        """Definition id to its limit, for the definitions that have one."""
        rows = TaskDefinition.all_objects.using(self.using).filter(concurrency_limit__isnull=False)
        return {pk: limit for pk, limit in rows.values_list("pk", "concurrency_limit") if limit}

    def lock_definitions(self, ids: Sequence[int]) -> None:
        """Hold these definition rows until the transaction ends (vendors say how)."""
        raise NotImplementedError

    def claim_within_limits(
        self,
        queues: Sequence[str],
        limit: int,
        runner_id: str,
        now: datetime,
        limits: dict[int, int],
    ) -> list[ClaimedItem]:
        """``claim``, with no limited definition going past its limit. Call it inside a
        transaction: the lock lasts until it ends."""
        if not limits or limit <= 0 or not queues:
            return self.claim(queues, limit, runner_id, now)
        # Only the limited definitions with due items here need the lock. The others are left
        # out of this claim (an item of theirs enqueued meanwhile waits for the next one), so a
        # runner whose queues they do not use never takes turns with the others.
        limited = sorted(limits)
        ids = sorted(
            QueueItem.objects.using(self.using)
            .filter(
                status=QueueItem.Status.QUEUED,
                definition_id__in=limited,
                queue_name__in=list(queues),
                run_at__lte=now,
            )
            .values_list("definition_id", flat=True)
            .distinct()
            .order_by()
        )
        if not ids:
            return self.claim(queues, limit, runner_id, now, skip_definitions=limited)
        self.lock_definitions(ids)  # in one order for every runner: no deadlock between them
        running = dict(
            QueueItem.all_objects.using(self.using)
            .filter(status=QueueItem.Status.RUNNING, definition_id__in=ids)
            .values_list("definition_id")
            .annotate(count=Count("pk"))
            .order_by()
        )
        items = self.claim(queues, limit, runner_id, now, skip_definitions=limited)
        for definition_id in ids:
            room = min(limits[definition_id] - running.get(definition_id, 0), limit - len(items))
            if room > 0:
                items += self.claim(queues, room, runner_id, now, only_definition=definition_id)
        items.sort(key=lambda item: (-item.priority, item.id))
        return items
