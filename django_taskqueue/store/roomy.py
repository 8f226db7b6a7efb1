"""The claim under limits that cannot bind, and the ledger of the starts rate limits count.

Most limits, most of the time, are far from binding: a claim of ten items under a limit of a
hundred running, or of a thousand starts a second, cannot exceed it. Such a claim is the
plain one, guarded by the locks and the usage read a planned claim takes (``flow.py``). On
PostgreSQL all of it, ledger rows included, is one call of a function (migration 0010), so
limits that do not bind cost little more than no limits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone

from ..limits import FlowRules, Limits
from ..models import LimitStart
from ..validation import MAX_ITEM_ID
from .flow_sql import bound_sql
from .records import ClaimedItem
from .rooms import Candidate, UsageReader, scopes_of, window


class RoomyClaims(UsageReader):
    """The roomy claim and the ledger writes of ``QueueStore``."""

    if TYPE_CHECKING:  # provided by QueueStore

        def claim(
            self,
            queues: Sequence[str],
            limit: int,
            runner_id: str,
            now: datetime,
            *,
            skip_definitions: Sequence[int] = (),
            newest_definition: int = MAX_ITEM_ID,
        ) -> list[ClaimedItem]: ...

    def lock_due_definitions(
        self, limited: Sequence[int], queues: Sequence[str], now: datetime
    ) -> list[int]:
        """The limited definitions with items due on ``queues``, their rows held until the
        transaction ends, in one order for every claim (vendors say how)."""
        raise NotImplementedError

    def lock_queues(self, names: Sequence[str]) -> None:
        """Hold these queue rows until the transaction ends (vendors say how)."""
        raise NotImplementedError

    def claim_roomy(
        self,
        queues: Sequence[str],
        limit: int,
        runner_id: str,
        now: datetime,
        rules: FlowRules,
        queue_rules: dict[str, Limits],
    ) -> list[ClaimedItem] | None:
        """The plain claim, its starts recorded, if no limit in force can bind it once the
        limited definitions with due items and the limited queues are locked and their usage
        read; None if one might (the caller plans the claim then, the locks still held).
        Limited definitions with nothing due (neither locked nor counted) wait for the next
        claim. (PostgreSQL makes it one call of a function.)"""
        limited = sorted(rules.definitions)
        due = self.lock_due_definitions(limited, queues, now) if limited else []
        if any(rules.definitions[d].key_concurrency or rules.definitions[d].key_rate for d in due):
            return None
        if queue_rules:
            self.lock_queues(sorted(queue_rules))
        # The clock is read after the locks: a start is dated when no other claim can race it.
        now = max(now, timezone.now())
        usage, reads = self._usage_plan(rules, due, queue_rules, limit, limit)
        if reads:
            if not usage.roomy(limit):
                return None
            most = {scope: room - limit for scope, room in usage.room.items() if scope != "idle"}
            sql, params = bound_sql(reads, most, self._since(now))
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                if cursor.fetchone():
                    return None
        skip = [d for d in limited if d not in due]
        newest = rules.newest_definition
        items = self.claim(
            queues, limit, runner_id, now, skip_definitions=skip, newest_definition=newest
        )
        self._record_starts([Candidate.of(item) for item in items], rules, now)
        return items

    def _record_starts(self, taken: Iterable[Candidate], rules: FlowRules, now: datetime) -> None:
        """One ledger row per rate limit this claim's starts count against, with their number:
        a window's total is the sum over its claims, however many items each took."""
        counts: Counter[str] = Counter()
        groups = Counter((c.definition_id, c.queue_name, c.key) for c in taken)
        for (definition_id, queue_name, key), n in groups.items():
            candidate = Candidate(0, definition_id, queue_name, 0, None, key, 0)
            for scope in scopes_of(candidate, rules):
                if scope.rate:
                    counts[scope.name] += n
        LimitStart.objects.using(self.using).bulk_create(
            LimitStart(scope=scope, started_at=now, count=count) for scope, count in counts.items()
        )

    def prune_starts(self) -> int:
        """Delete the ledger rows older than the longest window (an hour); a duty of runners."""
        old = timezone.now() - window(3600)
        deleted, _ = LimitStart.objects.using(self.using).filter(started_at__lt=old).delete()
        return deleted
