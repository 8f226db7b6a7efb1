"""Operator actions over many items at once, shared by the admin, the CLI and the HTTP API.

Each action calls the item's own transition method, so there is one implementation of cancel,
requeue and friends; this module only adds the report of what changed and what was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .exceptions import InvalidTransition, InvalidValue
from .models import QueueItem
from .validation import shown

ACTIONS = {
    "cancel": QueueItem.cancel,
    "requeue": QueueItem.requeue,
    "pause": QueueItem.pause,
    "resume": QueueItem.resume,
    "run_now": QueueItem.run_now,
    "soft_delete": QueueItem.soft_delete,
    "restore": QueueItem.restore,
}

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


def apply_action(action: str, items: Iterable[QueueItem]) -> ActionReport:
    """Run ``action`` on each item; items it does not apply to are skipped with the reason."""
    try:
        method = ACTIONS[action]
    except KeyError:
        raise InvalidValue(
            f"Unknown action {shown(action)}; choose from {', '.join(ACTIONS)}."
        ) from None
    report = ActionReport(action)
    for item in items:
        try:
            method(item)
        except InvalidTransition as exc:
            report.skipped[item.pk] = str(exc)
        else:
            report.changed.append(item.pk)
    return report
