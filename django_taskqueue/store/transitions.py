"""The rules of the operator actions: which items each applies to, and what it sets.

Each rule becomes one guarded ``UPDATE`` in ``QueueStore.transition``; the guard is what
makes an action safe against a runner claiming or finishing the same item at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_FINISHED = ("success", "failed", "canceled")


@dataclass(frozen=True)
class Rule:
    verb: str  # as the refusal says it: "Cannot <verb> item #7: it is running."
    guard: str
    guard_params: tuple[Any, ...] = ()
    sets: dict[str, Any] = field(default_factory=dict)  # column -> value; NOW: the time
    wakes_runners: bool = False  # the items become claimable: tell the runners

    def assignments(self, now: Any) -> tuple[str, list[Any]]:
        columns = ", ".join(f"{column} = %s" for column in self.sets)
        return columns, [now if value is NOW else value for value in self.sets.values()]

    def refusal(self, item_id: int, status: str, deleted: bool) -> str:
        if self.verb == "delete" and status != "running":
            return f"Cannot delete item #{item_id}: it is already deleted."
        if self.verb == "delete":
            return f"Cannot delete item #{item_id}: it is running (cancel it first)."
        if self.verb == "restore":
            return f"Cannot restore item #{item_id}: it is not deleted."
        return f"Cannot {self.verb} item #{item_id}: it is {status}."


NOW = object()


def _status_in(*statuses: str) -> tuple[str, tuple[str, ...]]:
    return f"status IN ({', '.join(['%s'] * len(statuses))})", statuses


TRANSITIONS: dict[str, tuple[Rule, ...]] = {
    "cancel": (
        Rule(
            "cancel",
            *_status_in("queued", "paused"),
            sets={"status": "canceled", "completed_at": NOW},
        ),
        # A running item is the runner's to stop: it sees the flag and interrupts the handler.
        Rule("cancel", *_status_in("running"), sets={"cancel_requested": True}),
    ),
    "requeue": (
        Rule(
            "requeue",
            *_status_in(*_FINISHED),
            sets={
                "status": "queued",
                "attempts": 0,
                "run_at": NOW,
                "started_at": None,
                "completed_at": None,
                "output": None,
                "cancel_requested": False,
            },
            wakes_runners=True,
        ),
    ),
    "pause": (Rule("pause", *_status_in("queued"), sets={"status": "paused"}),),
    "resume": (
        Rule("resume", *_status_in("paused"), sets={"status": "queued"}, wakes_runners=True),
    ),
    "run_now": (
        Rule(
            "run now",
            *_status_in("queued", "paused"),
            sets={"status": "queued", "run_at": NOW},
            wakes_runners=True,
        ),
    ),
    "soft_delete": (
        Rule(
            "delete",
            "status <> %s AND deleted_at IS NULL",
            ("running",),
            sets={"deleted_at": NOW},
        ),
    ),
    "restore": (Rule("restore", "deleted_at IS NOT NULL", sets={"deleted_at": None}),),
}
