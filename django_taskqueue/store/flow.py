"""Flow control in the claim: rate and concurrency limits, concurrency keys and their turns.

Without limits in force on a runner's queues and without keyed items due there, a claim is
the plain one statement. Otherwise it is *planned*, inside the claiming transaction:

1. lock the rows of the limited definitions that have due items, and of the limited queues,
   in one order for every runner (no deadlock), so that runners claiming them take turns and
   the usage read next stays true until the claim commits;
2. read the usage: items running per limited definition, queue and key, and the starts in
   each rate limit's sliding window (``LimitStart``, the ledger);
3. read candidates in claim order, leaving out what has no room at all; keyed items come in
   round-robin order across keys (their *turn*: the first item of every key, then the
   second...), and the items without a key take turns as one more key;
4. take each candidate that every limit concerning it has room for, claim them, and write
   a ledger row per rate limit they count against.

The rules themselves, and their parsing, are in ``django_taskqueue/limits.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from ..limits import FlowRules, Limits, Rate, stored_rate
from ..models import LimitStart, QueueItem, QueueState, TaskDefinition
from .flow_sql import candidates_sql, claim_ids_sql, probe_sql
from .records import ClaimedItem

RUNNING = QueueItem.Status.RUNNING
MAX_ROUNDS = 4  # candidate reads per claim, when room runs out for the first ones read
# A start is dated when it is claimed, and its handler begins a little later: a few
# milliseconds, up to a tenth of a second on a busy host. Windows are counted this much longer,
# so that measured from inside the handlers, too, no window holds more than the rate.
RATE_MARGIN_SECONDS = 0.1


class Candidate(NamedTuple):
    id: int
    definition_id: int
    queue_name: str
    priority: int
    run_at: Any
    key: str | None
    turn: int


@dataclass
class Claim:
    """What a claim took, and when a rate limit that held items back next has room."""

    items: list[ClaimedItem]
    room_at: datetime | None = None


def window(seconds: float) -> timedelta:
    """How far back a rate limit of ``seconds`` counts starts."""
    return timedelta(seconds=seconds + RATE_MARGIN_SECONDS)


def definition_scope(definition_id: int) -> str:
    return f"definition:{definition_id}"


def queue_scope(name: str) -> str:
    return f"queue:{name}"


def key_scope(definition_id: int, key: str) -> str:
    return f"key:{definition_id}:{key}"


def running(scope: str) -> str:
    """The concurrency limit of a scope; the bare name is its rate limit (and ledger name)."""
    return f"running:{scope}"


class Scope(NamedTuple):
    """One limit an item counts against: its name, its capacity, and its rate if a rate."""

    name: str
    capacity: int
    rate: Rate | None = None


class Usage:
    """The room each limit has left in this claim, by scope name. ``"idle"`` is the runner's
    idle workers, which bound rate-limited items: a start is counted when claimed, so it must
    start at once, not wait behind prefetched work."""

    def __init__(self, idle: int) -> None:
        self.room: dict[str, int] = {"idle": idle}
        self.rates: dict[str, Rate] = {}
        self.oldest: dict[str, datetime] = {}

    def take(self, scopes: Sequence[Scope]) -> bool:
        """Count one more item against every scope, if each has room for it."""
        for scope in scopes:
            if self.room.setdefault(scope.name, scope.capacity) <= 0:
                return False
        for scope in scopes:
            self.room[scope.name] -= 1
            if scope.rate:
                self.rates[scope.name] = scope.rate
        return True

    def full(self) -> set[str]:
        return {scope for scope, room in self.room.items() if room <= 0}

    def room_at(self, now: datetime) -> datetime | None:
        """When the first full rate limit has room again: its oldest start leaves the window."""
        times = [
            self.oldest.get(scope, now) + window(rate.seconds)
            for scope, rate in self.rates.items()
            if self.room.get(scope, 1) <= 0
        ]
        return min(times) if times else None


class FlowControl:
    """The flow-control statements of ``QueueStore``."""

    vendor: ClassVar[str]

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
        ) -> list[ClaimedItem]: ...

        @property
        def connection(self) -> Any: ...
        def adapt(self, value: datetime | None) -> Any: ...

    def flow_rules(self) -> FlowRules:
        """Every limit in force, read from the definition and queue rows."""
        definitions, names = {}, {}
        limited = Q(concurrency_limit__isnull=False) | Q(key_concurrency_limit__isnull=False)
        limited |= ~Q(rate_limit="") | ~Q(key_rate_limit="")
        for row in TaskDefinition.all_objects.using(self.using).filter(limited):
            limits = Limits(
                row.concurrency_limit or None,
                stored_rate(row.rate_limit),
                row.key_concurrency_limit or None,
                stored_rate(row.key_rate_limit),
            )
            if limits:
                definitions[row.pk], names[row.pk] = limits, row.alias
        queues = {}
        limited = Q(concurrency_limit__isnull=False) | ~Q(rate_limit="")
        for state in QueueState.objects.using(self.using).filter(limited):
            limits = Limits(state.concurrency_limit or None, stored_rate(state.rate_limit))
            if limits:
                queues[state.name] = limits
        return FlowRules(definitions, queues, names)

    def set_concurrency_keys(self, ids_by_key: dict[str, list[int]]) -> None:
        """Give new items their concurrency key, in the enqueue's transaction."""
        items = QueueItem.all_objects.using(self.using)
        for key, ids in ids_by_key.items():
            for start in range(0, len(ids), 5000):
                items.filter(pk__in=ids[start : start + 5000]).update(concurrency_key=key)

    def lock_limits(self, definition_ids: Sequence[int], queue_names: Sequence[str]) -> None:
        """Hold these definition and queue rows until the transaction ends (vendors say how)."""
        raise NotImplementedError

    def lock_candidates(self, ids: Sequence[int]) -> set[int]:
        """The ids of these queued items this claim may take (PostgreSQL locks them, skipping
        those another claim holds; SQLite's one writer holds them all already)."""
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
        keyed, due = self._probe(queues, now, limited)
        if not keyed and not due and not queue_rules:
            return Claim(self.claim(queues, limit, runner_id, now, skip_definitions=limited))
        self.lock_limits(due, sorted(queue_rules))
        # The clock is read after the locks: a start is dated when no other claim can race it.
        now = max(now, timezone.now())
        usage = self._usage(rules, due, queue_rules, now, limit if idle is None else idle)
        taken: list[ClaimedItem] = []
        for _ in range(MAX_ROUNDS):
            full = usage.full()
            open_queues = [
                q for q in queues if not {queue_scope(q), running(queue_scope(q))} & full
            ]
            wanted = limit - len(taken)
            if not open_queues or wanted <= 0:
                break
            read = 2 * wanted + 20
            candidates = self._candidates(open_queues, now, read, rules, full, keyed)
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
        return Claim(taken, usage.room_at(now))

    # ------------------------------------------------------------------ the steps
    def _probe(self, queues: list[str], now: datetime, limited: list[int]) -> tuple[bool, list]:
        """Whether keyed items are due on ``queues``, and which limited definitions have due
        items there: one statement of index look-ups."""
        sql, params = probe_sql(queues, self.adapt(now), limited)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        keyed = any(kind == 0 for kind, _ in rows)
        return keyed, sorted(definition for kind, definition in rows if kind == 1)

    def _usage(
        self,
        rules: FlowRules,
        due: list[int],
        queue_rules: dict[str, Limits],
        now: datetime,
        idle: int,
    ) -> Usage:
        """The running counts and the window's starts of the limits this claim may touch."""
        usage = Usage(idle)
        limits = {d: rules.definitions[d] for d in due}
        running_items = QueueItem.all_objects.using(self.using).filter(status=RUNNING).order_by()
        counted = [d for d, lim in limits.items() if lim.concurrency]
        for d, n in _counts(running_items.filter(definition_id__in=counted), "definition_id"):
            usage.room[running(definition_scope(d))] = limits[d].concurrency - n  # type: ignore[operator]
        for d in counted:
            usage.room.setdefault(running(definition_scope(d)), limits[d].concurrency)  # type: ignore[arg-type]
        keyed = [d for d, lim in limits.items() if lim.key_concurrency]
        rows = running_items.filter(definition_id__in=keyed, concurrency_key__isnull=False)
        for (d, key), n in _counts(rows, "definition_id", "concurrency_key"):
            usage.room[running(key_scope(d, key))] = limits[d].key_concurrency - n  # type: ignore[operator]
        counted_queues = [q for q, lim in queue_rules.items() if lim.concurrency]
        for q, n in _counts(running_items.filter(queue_name__in=counted_queues), "queue_name"):
            usage.room[running(queue_scope(q))] = queue_rules[q].concurrency - n  # type: ignore[operator]
        self._window_starts(usage, limits, queue_rules, now)
        return usage

    def _window_starts(
        self, usage: Usage, limits: dict[int, Limits], queue_rules: dict[str, Limits], now: datetime
    ) -> None:
        """Count the starts in each rate limit's window against its room; note the oldest."""
        rates: dict[str, Rate] = {}
        prefixes: dict[str, Rate] = {}  # a definition's keys, by the prefix of their scopes
        for d, lim in limits.items():
            if lim.rate:
                rates[definition_scope(d)] = lim.rate
            if lim.key_rate:
                prefixes[key_scope(d, "")] = lim.key_rate
        for q, lim in queue_rules.items():
            if lim.rate:
                rates[queue_scope(q)] = lim.rate
        for seconds in {rate.seconds for rate in (*rates.values(), *prefixes.values())}:
            which = Q(scope__in=[scope for scope, rate in rates.items() if rate.seconds == seconds])
            for prefix, rate in prefixes.items():
                if rate.seconds == seconds:
                    which |= Q(scope__startswith=prefix)
            rows = (
                LimitStart.objects.using(self.using)
                .filter(which, started_at__gt=now - window(seconds))
                .values_list("scope")
                .annotate(n=Count("pk"), oldest=Min("started_at"))
                .order_by()
            )
            for scope, n, oldest in rows:
                rate = rates.get(scope) or prefixes[scope[: scope.index(":", 4) + 1]]
                usage.room[scope] = rate.count - n
                usage.rates[scope] = rate
                usage.oldest[scope] = oldest
        for scope, rate in rates.items():
            usage.room.setdefault(scope, rate.count)
            usage.rates[scope] = rate

    def _candidates(
        self,
        queues: list[str],
        now: datetime,
        count: int,
        rules: FlowRules,
        full: set[str],
        keyed: bool,
    ) -> list[Candidate]:
        """Due items that no full limit excludes outright, in the order claims take them."""
        full_definitions = sorted(
            d
            for d, lim in rules.definitions.items()
            if {definition_scope(d), running(definition_scope(d))} & full
            or ((lim.rate or lim.key_rate) and "idle" in full)
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
                full_definitions,
                full_keys,
                with_keys,
                self.vendor,
            )
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows += [Candidate(*row) for row in cursor.fetchall()]
        allowed = self.lock_candidates([row.id for row in rows])
        # The items without a key take turns as one more key: the n-th of them, the n-th turn.
        turns: Counter[tuple[str, int]] = Counter()
        ordered = []
        for row in rows:
            if row.id not in allowed:
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

    def _record_starts(self, taken: Iterable[Candidate], rules: FlowRules, now: datetime) -> None:
        """A ledger row per rate limit each start counts against; the rows that have left
        their window are pruned as the new ones go in."""
        rows, windows = [], {}
        for candidate in taken:
            for scope in scopes_of(candidate, rules):
                if scope.rate:
                    rows.append(LimitStart(scope=scope.name, started_at=now))
                    windows[scope.name] = scope.rate.seconds
        if not rows:
            return
        starts = LimitStart.objects.using(self.using)
        starts.bulk_create(rows)
        for seconds in set(windows.values()):
            scopes = [scope for scope, window in windows.items() if window == seconds]
            old = now - window(seconds)
            starts.filter(scope__in=scopes, started_at__lte=old).delete()


def _counts(rows: QuerySet, *fields: str) -> list[tuple[Any, int]]:
    """``(value, count)`` per value of ``fields`` (a tuple of them when several)."""
    grouped = rows.values_list(*fields).annotate(n=Count("pk"))
    return [(row[0] if len(fields) == 1 else row[:-1], row[-1]) for row in grouped]


def scopes_of(candidate: Candidate, rules: FlowRules) -> list[Scope]:
    """Every limit a candidate counts against."""
    scopes = []
    definition = rules.definitions.get(candidate.definition_id) or Limits()
    queue = rules.queues.get(candidate.queue_name) or Limits()
    own = definition_scope(candidate.definition_id)
    in_queue = queue_scope(candidate.queue_name)
    key = key_scope(candidate.definition_id, candidate.key) if candidate.key is not None else None
    for name, rate in ((own, definition.rate), (in_queue, queue.rate)):
        if rate:
            scopes.append(Scope(name, rate.count, rate))
    if key and definition.key_rate:
        scopes.append(Scope(key, definition.key_rate.count, definition.key_rate))
    if scopes:
        scopes.append(Scope("idle", 0))
    for name, limit in ((own, definition.concurrency), (in_queue, queue.concurrency)):
        if limit:
            scopes.append(Scope(running(name), limit))
    if key and definition.key_concurrency:
        scopes.append(Scope(running(key), definition.key_concurrency))
    return scopes
