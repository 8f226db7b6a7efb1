"""Why an item waits: parents not finished yet; or, once queued, a paused queue, a later
``run_at``, or a limit without room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import timezone

from ..limits import FlowRules
from ..models import ItemDependency, QueueItem
from .rooms import Candidate, Scope, UsageReader, scopes_of

# A waiting item names this many of the parents it waits for, and counts the rest.
NAMED_PARENTS = 5


class WaitingReasons(UsageReader):
    """Saying why items wait, in the words the admin and the HTTP API show."""

    if TYPE_CHECKING:  # provided by QueueStore

        def paused_queues(self, queues: Sequence[str] | None = None) -> set[str]: ...

    def waiting_reasons(self, items: Sequence[QueueItem]) -> dict[int, str]:
        """Item id to the reason it waits, for the waiting and queued items among ``items``;
        an item next in line for a runner has none."""
        alive = [item for item in items if item.deleted_at is None]
        reasons = self._unfinished_parents([item.pk for item in alive if item.status == "waiting"])
        queued = [item for item in alive if item.status == "queued"]
        if not queued:
            return reasons
        now = timezone.now()
        rules = self.flow_rules()
        names = {item.queue_name for item in queued}
        paused = self.paused_queues(sorted(names))
        usage = self._usage(
            rules,
            sorted({item.definition_id for item in queued} & set(rules.definitions)),
            {name: rules.queues[name] for name in names if name in rules.queues},
            now,
            1,
            1,
        )
        for item in queued:
            if item.queue_name in paused:
                reasons[item.pk] = f"queue {item.queue_name} is paused"
            elif item.run_at > now:
                reasons[item.pk] = f"scheduled for {item.run_at.isoformat(timespec='seconds')}"
            else:
                candidate = Candidate(
                    item.pk,
                    item.definition_id,
                    item.queue_name,
                    item.priority,
                    item.run_at,
                    item.concurrency_key,
                    0,
                )
                for scope in scopes_of(candidate, rules):
                    if scope.name != "idle" and usage.room.get(scope.name, scope.capacity) <= 0:
                        reasons[item.pk] = _said(scope, candidate, rules)
                        break
        return reasons

    def _unfinished_parents(self, waiting: Sequence[int]) -> dict[int, str]:
        """The reason of each item in status ``waiting``: the parents not finished yet, in the
        order they were given ("waiting for parent(s) #3, #4")."""
        if not waiting:
            return {}
        links = (
            ItemDependency.objects.using(self.using)
            .filter(child_id__in=list(waiting))
            .exclude(parent__status__in=QueueItem.FINISHED_STATUSES)
            .order_by("child_id", "position")
            .values_list("child_id", "parent_id")
        )
        parents: dict[int, list[int]] = {}
        for child, parent in links:
            parents.setdefault(child, []).append(parent)
        return {child: _waiting_for(ids) for child, ids in parents.items()}


def _waiting_for(parents: list[int]) -> str:
    named = ", ".join(f"#{parent}" for parent in parents[:NAMED_PARENTS])
    more = len(parents) - NAMED_PARENTS
    return f"waiting for parent(s) {named}" + (f" and {more} more" if more > 0 else "")


def _said(scope: Scope, item: Candidate, rules: FlowRules) -> str:
    limit = "rate limit" if scope.rate else "concurrency limit"
    what = scope.name.removeprefix("running:").split(":", 1)[0]
    if what == "key":
        return f"key {item.key} busy" if not scope.rate else f"rate limit of key {item.key}"
    if what == "queue":
        return f"{limit} of queue {item.queue_name}"
    return f"{limit} of {rules.names.get(item.definition_id, item.definition_id)}"
