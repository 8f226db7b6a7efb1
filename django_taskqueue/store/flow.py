"""Flow control in the claim: rate and concurrency limits, concurrency keys and their turns.

Without limits in force on a runner's queues and without keyed items due there, a claim is
the plain one statement. Otherwise it is *planned*, inside the claiming transaction:

1. lock the rows of the limited definitions that have due items (finding them is the same
   statement), and of the limited queues, in one order for every runner (no deadlock), so
   that runners claiming them take turns and the usage read next stays true until the claim
   commits;
2. read the usage: items running per limited definition, queue and key, and the starts in
   each rate limit's sliding window (``LimitStart``, the ledger). When no limit can bind a
   claim of this size (no keys involved, usage far from every limit), the claim is the plain
   one, its starts recorded, and ends there (``roomy.py``); otherwise it goes on:
3. read candidates in claim order, leaving out what has no room at all; keyed items come in
   round-robin order across keys (their *turn*: the first item of every key, then the
   second...), and the items without a key take turns as one more key;
4. take each candidate that every limit concerning it has room for, claim them, and write
   a ledger row per rate limit they count against.

The rules themselves, and their parsing, are in ``django_taskqueue/limits.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..limits import FlowRules
from ..models import QueueItem, QueueState, TaskDefinition
from ..tenants import tenant_key
from .flow_sql import candidates_sql, claim_ids_sql, keyed_due_sql
from .records import ClaimedItem
from .rooms import Candidate, definition_scope, queue_scope, running, scopes_of
from .roomy import RoomyClaims

MAX_ROUNDS = 4  # candidate reads per claim, when room runs out for the first ones read


@dataclass
class Claim:
    """What a claim took, and when a rate limit that held items back next has room."""

    items: list[ClaimedItem]
    room_at: datetime | None = None
    stale: bool = False  # read the rules again and claim once more


class FlowControl(RoomyClaims):
    """The flow-control statements of ``QueueStore``."""

    vendor: ClassVar[str]

    def set_concurrency_keys(self, ids_by_key: dict[str, list[int]]) -> None:
        """Give new items their concurrency key, in the enqueue's transaction."""
        items = QueueItem.all_objects.using(self.using)
        for key, ids in ids_by_key.items():
            for start in range(0, len(ids), 5000):
                items.filter(pk__in=ids[start : start + 5000]).update(concurrency_key=key)

    def set_tenant(self, tenant: str, ids: list[int]) -> None:
        """Give new items their tenant, in the enqueue's transaction; those still without a
        concurrency key take the tenant's (``tenants.tenant_key``), so the claims take
        tenants in turn. One statement per 5,000 items, none for a call without a tenant."""
        items = QueueItem.all_objects.using(self.using)
        values = {
            "tenant": tenant,
            "concurrency_key": Coalesce(F("concurrency_key"), Value(tenant_key(tenant))),
        }
        for start in range(0, len(ids), 5000):
            items.filter(pk__in=ids[start : start + 5000]).update(**values)

    def set_queue_limits(self, name: str, concurrency: int | None, rate: str) -> QueueState:
        state, _ = QueueState.objects.using(self.using).update_or_create(
            name=name, defaults={"concurrency_limit": concurrency, "rate_limit": rate}
        )
        return state

    def lock_candidates(self, ids: Sequence[int]) -> set[int]:
        """The ids of these queued keyed items this claim may take (PostgreSQL locks them,
        skipping those another claim holds; SQLite's one writer holds them all already)."""
        return set(ids)

    def claim_within_limits(
        self,
        queues: Sequence[str],
        limit: int,
        runner_id: str,
        now: datetime,
        rules: FlowRules,
        idle: int | None = None,
    ) -> Claim:
        """Claim up to ``limit`` items of ``queues`` that every limit in force has room for,
        ``idle`` of them at most from rate-limited work. Call it inside a transaction: the
        locks last until it ends."""
        queues = list(queues)
        if limit <= 0 or not queues:
            return Claim([])
        queue_rules = {q: rules.queues[q] for q in queues if q in rules.queues}
        limited = sorted(rules.definitions)
        newest = rules.newest_definition
        if not limited and not queue_rules and not rules.keyed_queues.intersection(queues):
            return self._checked(
                self.claim(queues, limit, runner_id, now, newest_definition=newest), limit, rules
            )
        if not rules.keyed_queues.intersection(queues):
            roomy = self.claim_roomy(queues, limit, runner_id, now, rules, queue_rules)
            if roomy is not None:
                return self._checked(roomy, limit, rules)
        due = self.lock_due_definitions(limited, queues, now) if limited else []
        per_key = any(
            rules.definitions[d].key_concurrency or rules.definitions[d].key_rate for d in due
        )
        # Keyed items take turns wherever they were seen at the last refresh of the rules, and
        # wherever a definition with per-key limits has work.
        seen = per_key or bool(rules.keyed_queues.intersection(queues))
        keyed = seen and self._keyed_due(queues, now)
        if not keyed and not due and not queue_rules:
            items = self.claim(
                queues, limit, runner_id, now, skip_definitions=limited, newest_definition=newest
            )
            return self._checked(items, limit, rules)
        if queue_rules:
            self.lock_queues(sorted(queue_rules))
        now = max(now, timezone.now())  # read after the locks, as in claim_roomy
        usage = self._usage(rules, due, queue_rules, now, limit if idle is None else idle, limit)
        taken: list[ClaimedItem] = []
        for round_number in range(1, MAX_ROUNDS + 1):
            full = usage.full()
            open_queues = [
                q for q in queues if not {queue_scope(q), running(queue_scope(q))} & full
            ]
            wanted = limit - len(taken)
            if not open_queues or wanted <= 0:
                break
            read = round_number * wanted + 20  # deeper each round: the first ones had no room
            candidates = self._candidates(open_queues, now, read, rules, full, keyed, set(due))
            chosen: list[Candidate] = []
            for candidate in candidates:
                if len(chosen) == wanted:
                    break
                if usage.take(scopes_of(candidate, rules)):
                    chosen.append(candidate)
            claimed = {
                item.id: item for item in self.claim_ids([c.id for c in chosen], runner_id, now)
            }
            self._record_starts([c for c in chosen if c.id in claimed], rules, now)
            # In the order chosen, which is the order the pool starts them in: turns hold.
            taken += [claimed[c.id] for c in chosen if c.id in claimed]
            if len(candidates) < read or len(chosen) == wanted:
                break
        claim = self._checked(taken, limit, rules)
        claim.room_at = self._room_at(usage, now)
        return claim

    def _checked(self, items: list[ClaimedItem], limit: int, rules: FlowRules) -> Claim:
        """The claim, saying whether the rules are stale: a claim that did not fill its limit
        may have left the items of a definition created since they were read."""
        newer = TaskDefinition.all_objects.using(self.using).filter(pk__gt=rules.newest_definition)
        return Claim(items, stale=len(items) < limit and newer.exists())

    # ------------------------------------------------------------------ the steps
    def _keyed_due(self, queues: list[str], now: datetime) -> bool:
        sql, params = keyed_due_sql(queues, self.adapt(now))
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() is not None

    def _candidates(
        self,
        queues: list[str],
        now: datetime,
        count: int,
        rules: FlowRules,
        full: set[str],
        keyed: bool,
        counted: set[int],
    ) -> list[Candidate]:
        """Due items that no full limit excludes outright, in the order claims take them. The
        limited definitions whose usage was not ``counted`` (they had nothing due when the
        claim locked the others) are left for the next claim."""
        left_out = sorted(
            d
            for d in rules.definitions
            if {definition_scope(d), running(definition_scope(d))} & full or d not in counted
        )
        full_keys = sorted(
            {
                name
                for name in (scope.removeprefix("running:") for scope in full)
                if name.startswith("key:")
            }
        )
        rows: list[Candidate] = []
        for with_keys in (False, True) if keyed else (False,):
            sql, params = candidates_sql(
                queues,
                self.adapt(now),
                count,
                rules.newest_definition,
                left_out,
                full_keys,
                with_keys,
                self.vendor,
            )
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows += [Candidate(*row) for row in cursor.fetchall()]
        # The claim-order reads lock their rows already (PostgreSQL); the turn-order read can
        # not, so its rows are locked now, those another claim holds left out.
        allowed = self.lock_candidates([row.id for row in rows if row.key is not None])
        # The items without a key take turns as one more key: the n-th of them, the n-th turn.
        turns: Counter[tuple[str, int]] = Counter()
        ordered = []
        for row in rows:
            if row.key is not None and row.id not in allowed:
                continue
            if row.key is None:
                turns[row.queue_name, row.priority] += 1
                row = row._replace(turn=turns[row.queue_name, row.priority])
            ordered.append(row)
        ordered.sort(key=lambda c: (-c.priority, c.turn, c.run_at, c.id))
        return ordered

    def claim_ids(self, ids: Sequence[int], runner_id: str, now: datetime) -> list[ClaimedItem]:
        """Claim these items, those still queued."""
        if not ids:
            return []
        sql, params = claim_ids_sql(ids, self.adapt(now), runner_id)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [ClaimedItem.from_row(row, now) for row in rows]
