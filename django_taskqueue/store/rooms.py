"""The room each limit has left: the scopes an item counts against, and their usage.

A *scope* names one limit: ``definition:ID``, ``queue:NAME`` or ``key:ID:KEY`` is a rate limit
(and the name of its ledger rows, ``LimitStart``); ``running:`` before one of those names its
concurrency limit. ``Usage`` holds the room of each for one claim, read by ``UsageReader``
from the running items and the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.models import Max, Min, Q

from ..limits import FlowRules, Limits, Rate, stored_rate
from ..models import LimitStart, QueueItem, QueueState, TaskDefinition
from .flow_sql import UsageReads, usage_sql
from .records import ClaimedItem

RUNNING = QueueItem.Status.RUNNING
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

    @classmethod
    def of(cls, item: ClaimedItem) -> Candidate:
        """A claimed item without a key, as the ledger counts it."""
        return cls(item.id, item.definition_id, item.queue_name, item.priority, None, None, 0)


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
    """The room each limit has left in this claim, by scope name.

    ``"idle"`` is the runner's idle workers. A start is counted when it is claimed, so an item
    of a rate limit that may bind in this claim (less room left than the claim wants) must
    start at once, not wait behind prefetched work: those take idle workers only. Limits far
    from binding leave prefetching alone, which is what keeps them almost free.
    """

    def __init__(self, idle: int, wanted: int) -> None:
        self.room: dict[str, int] = {"idle": idle}
        self.rates: dict[str, Rate] = {}
        self.wanted = wanted

    def limit_rate(self, scope: str, rate: Rate) -> None:
        self.room[scope] = rate.count
        self.rates[scope] = rate

    def take(self, scopes: Sequence[Scope]) -> bool:
        """Count one more item against every scope, if each has room for it."""
        rooms = {scope.name: self.room.setdefault(scope.name, scope.capacity) for scope in scopes}
        tight = any(scope.rate and rooms[scope.name] < self.wanted for scope in scopes)
        counted = [scope for scope in scopes if scope.name != "idle" or tight]
        if any(rooms[scope.name] <= 0 for scope in counted):
            return False
        for scope in counted:
            self.room[scope.name] -= 1
            if scope.rate:
                self.rates[scope.name] = scope.rate
        return True

    def roomy(self, wanted: int) -> bool:
        """Whether every limit has room for ``wanted`` more items: none can bind."""
        return all(room >= wanted for name, room in self.room.items() if name != "idle")

    def full(self) -> set[str]:
        return {scope for scope, room in self.room.items() if room <= 0}


class UsageReader:
    """Reading the limits in force and their usage, for the claim and for saying why an item
    waits."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

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
        keyed = (
            QueueItem.objects.using(self.using)
            .filter(status=QueueItem.Status.QUEUED, concurrency_key__isnull=False)
            .values_list("queue_name", flat=True)
            .distinct()
            .order_by()
        )
        newest = TaskDefinition.all_objects.using(self.using).aggregate(newest=Max("pk"))["newest"]
        return FlowRules(definitions, queues, names, frozenset(keyed), newest or 0)

    def _usage(
        self,
        rules: FlowRules,
        due: list[int],
        queue_rules: dict[str, Limits],
        now: datetime,
        idle: int,
        wanted: int,
    ) -> Usage:
        """The room left in every limit this claim may touch: one statement reads the running
        counts and the windows' starts."""
        usage, reads = self._usage_plan(rules, due, queue_rules, idle, wanted)
        return self._read_usage(usage, reads, rules, now)

    def _usage_plan(
        self,
        rules: FlowRules,
        due: list[int],
        queue_rules: dict[str, Limits],
        idle: int,
        wanted: int,
    ) -> tuple[Usage, UsageReads]:
        """The capacity of every limit this claim may touch, and what to read of its usage."""
        usage = Usage(idle, wanted)
        reads = UsageReads()
        for d in due:
            lim, own = rules.definitions[d], definition_scope(d)
            if lim.concurrency:
                reads.running_definitions.append(d)
                usage.room[running(own)] = lim.concurrency
            if lim.key_concurrency:
                reads.running_keys.append(d)
            if lim.rate:
                reads.window(lim.rate.seconds).scopes.append(own)
                usage.limit_rate(own, lim.rate)
            if lim.key_rate:
                reads.window(lim.key_rate.seconds).prefixes.append(key_scope(d, ""))
        for q, lim in queue_rules.items():
            if lim.concurrency:
                reads.running_queues.append(q)
                usage.room[running(queue_scope(q))] = lim.concurrency
            if lim.rate:
                reads.window(lim.rate.seconds).scopes.append(queue_scope(q))
                usage.limit_rate(queue_scope(q), lim.rate)
        return usage, reads

    def _read_usage(
        self, usage: Usage, reads: UsageReads, rules: FlowRules, now: datetime
    ) -> Usage:
        """Take the usage ``reads`` asks for from the room of each limit (one statement)."""
        if not reads:
            return usage
        sql, params = usage_sql(reads, self._since(now))
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        for name, used in rows:
            if name not in usage.room:  # a key's: its definition's per-key limit
                limit = rules.definitions[int(name.removeprefix("running:").split(":", 2)[1])]
                if name.startswith("running:"):
                    usage.room[name] = limit.key_concurrency or 0
                elif limit.key_rate:
                    usage.limit_rate(name, limit.key_rate)
            usage.room[name] -= int(used)
        return usage

    def _since(self, now: datetime) -> Callable[[float], Any]:
        """The start of a window of so many seconds before ``now``, for the database."""
        return lambda seconds: self.adapt(now - window(seconds))

    def _room_at(self, usage: Usage, now: datetime) -> datetime | None:
        """When the first full rate limit has room again: its oldest start leaves the window."""
        full = {s: r for s, r in usage.rates.items() if usage.room.get(s, 1) <= 0}
        if not full:
            return None
        oldest = dict(
            LimitStart.objects.using(self.using)
            .filter(scope__in=list(full), started_at__gt=now - window(3600))
            .values_list("scope")
            .annotate(oldest=Min("started_at"))
            .order_by()
        )
        return min(oldest.get(s, now) + window(rate.seconds) for s, rate in full.items())


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
