"""The room each limit has left: the scopes an item counts against, and their usage.

A *scope* names one limit: ``definition:ID``, ``queue:NAME`` or ``key:ID:KEY`` is a rate limit
(and the name of its ledger rows, ``LimitStart``); ``running:`` before one of those names its
concurrency limit. ``Usage`` holds the room of each for one claim, read by ``UsageReader``
from the running items and the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db.models import Count, Min, Q, QuerySet

from ..limits import FlowRules, Limits, Rate
from ..models import LimitStart, QueueItem

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


class UsageReader:
    """Reading the usage of limits, for the claim and for saying why an item waits."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

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
