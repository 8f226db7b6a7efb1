"""Operator actions over many items at once, shared by the admin, the CLI and the HTTP API.

Each action is the store's set-based transition (one guarded UPDATE per rule, whatever the
number of items), plus a report of what changed and what was skipped, and an audit entry per
changed item for the user who asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from . import audit
from .exceptions import InvalidValue
from .limits import check_rate_limit
from .models import QueueItem, QueueState, Workflow
from .store import get_store
from .store.transitions import TRANSITIONS
from .validation import check_concurrency_limit, shown, validate_name

ACTIONS = tuple(TRANSITIONS)

# The model permission each action needs, beyond being able to see the items.
REQUIRED_PERMISSION = {
    "cancel": "django_taskqueue.cancel_queueitem",
    "requeue": "django_taskqueue.requeue_queueitem",
    "run_now": "django_taskqueue.requeue_queueitem",
    "pause": "django_taskqueue.pause_queueitem",
    "resume": "django_taskqueue.pause_queueitem",
    "soft_delete": "django_taskqueue.delete_queueitem",
    "restore": "django_taskqueue.delete_queueitem",
}

# How an action reads in an item's History.
DESCRIPTION = {
    "cancel": "Canceled (or asked its runner to stop it)",
    "requeue": "Requeued",
    "run_now": "Made ready to run now",
    "pause": "Paused",
    "resume": "Resumed",
    "soft_delete": "Deleted (soft)",
    "restore": "Restored",
}


@dataclass
class ActionReport:
    action: str
    changed: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # item id -> reason

    def summary(self) -> str:
        text = f"{self.action.replace('_', ' ')}: {len(self.changed)} item(s) changed"
        if self.skipped:
            reasons = "; ".join(f"#{pk}: {why}" for pk, why in list(self.skipped.items())[:10])
            more = f" (and {len(self.skipped) - 10} more)" if len(self.skipped) > 10 else ""
            text += f", {len(self.skipped)} skipped — {reasons}{more}"
        return text


def apply_action(
    action: str,
    items: QuerySet[QueueItem] | Iterable[QueueItem | int],
    *,
    actor: audit.Actor | None = None,
) -> ActionReport:
    """Run ``action`` on the selected items; those it does not apply to are skipped with the
    reason. ``items`` is a QuerySet (kept as a subquery: nothing is loaded) or items/ids."""
    if action not in TRANSITIONS:
        raise InvalidValue(f"Unknown action {shown(action)}; choose from {', '.join(ACTIONS)}.")
    store = get_store()
    if not isinstance(items, QuerySet):
        ids = [item if isinstance(item, int) else item.pk for item in items]
        items = QueueItem.all_objects.filter(pk__in=ids)
    result = store.transition(action, items)
    changed = sorted(result.changed)
    audit.record(
        actor, QueueItem, ((pk, f"queue item #{pk}") for pk in changed), DESCRIPTION[action]
    )
    return ActionReport(action, changed=changed, skipped=dict(sorted(result.skipped.items())))


def cancel_workflow(workflow: Workflow, *, actor: audit.Actor | None = None) -> ActionReport:
    """``Workflow.cancel`` (every unfinished item), noted in the workflow's History."""
    report = workflow.cancel(actor=actor)
    audit.record(actor, Workflow, [(workflow.pk, str(workflow))], f"Canceled: {report.summary()}")
    return report


def set_queue_paused(name: str, paused: bool, *, actor: audit.Actor | None = None) -> None:
    """Pause a whole queue (runners stop claiming from it; its items stay) or resume it."""
    validate_name(name, "queue name")
    get_store().set_queue_paused(name, bool(paused))
    audit.record(actor, QueueState, [(name, name)], "Queue paused" if paused else "Queue resumed")


def set_queue_limits(
    name: str,
    *,
    concurrency_limit: int | None,
    rate_limit: str | None,
    actor: audit.Actor | None = None,
) -> QueueState:
    """Set a queue's limits, counted across all of its items (None or ``""``: no limit).
    Runners take the change within a refresh of their definitions (about 5 s)."""
    validate_name(name, "queue name")
    concurrency = check_concurrency_limit(concurrency_limit)
    rate = check_rate_limit(rate_limit)
    state = get_store().set_queue_limits(name, concurrency, rate)
    said = f"Queue limits set: concurrency {concurrency or 'none'}, rate {rate or 'none'}"
    audit.record(actor, QueueState, [(name, name)], said)
    return state
