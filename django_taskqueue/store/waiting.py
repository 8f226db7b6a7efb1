"""Why a queued item waits: a paused queue, a later ``run_at``, or a limit without room."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import timezone

from ..limits import FlowRules
from ..models import QueueItem
from .rooms import Candidate, Scope, UsageReader, scopes_of


class WaitingReasons(UsageReader):
    """Saying why items wait, in the words the admin and the HTTP API show."""

    if TYPE_CHECKING:  # provided by QueueStore

        def paused_queues(self, queues: Sequence[str] | None = None) -> set[str]: ...

    def waiting_reasons(self, items: Sequence[QueueItem]) -> dict[int, str]:
        """Item id to the reason it waits, for the queued items among ``items``; an item next
        in line for a runner has none."""
        queued = [item for item in items if item.status == "queued" and item.deleted_at is None]
        if not queued:
            return {}
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
        reasons = {}
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


def _said(scope: Scope, item: Candidate, rules: FlowRules) -> str:
    limit = "rate limit" if scope.rate else "concurrency limit"
    what = scope.name.removeprefix("running:").split(":", 1)[0]
    if what == "key":
        return f"key {item.key} busy" if not scope.rate else f"rate limit of key {item.key}"
    if what == "queue":
        return f"{limit} of queue {item.queue_name}"
    return f"{limit} of {rules.names.get(item.definition_id, item.definition_id)}"
