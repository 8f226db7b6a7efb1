"""The rules of the operator actions: which items each applies to, and what it sets.

Each rule becomes one guarded ``UPDATE`` in ``QueueStore.transition``; the guard is what
makes an action safe against a runner claiming or finishing the same item at the same time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from ..models import QueueItem
from .deadlocks import is_deadlock
from .dependencies import FOLLOWERS, Followers, followers_from
from .records import TransitionResult

ITEMS = QueueItem._meta.db_table
DEADLOCK_TRIES = 3
logger = logging.getLogger("django_taskqueue")

_FINISHED = ("success", "failed", "canceled")


@dataclass(frozen=True)
class Rule:
    verb: str  # as the refusal says it: "Cannot <verb> item #7: it is running."
    guard: str
    guard_params: tuple[Any, ...] = ()
    sets: dict[str, Any] = field(default_factory=dict)  # column -> value; NOW: the time
    wakes_runners: bool = False  # the items become claimable: tell the runners
    finishes: bool = False  # the items reach a final status: settle what follows

    def assignments(self, now: Any) -> tuple[str, list[Any]]:
        columns = ", ".join(
            f"{column} = {value}" if isinstance(value, Sql) else f"{column} = %s"
            for column, value in self.sets.items()
        )
        values = [now if value is NOW else value for value in self.sets.values()]
        return columns, [value for value in values if not isinstance(value, Sql)]

    def refusal(self, item_id: int, status: str, deleted: bool) -> str:
        if self.verb == "delete" and status != "running":
            return f"Cannot delete item #{item_id}: it is already deleted."
        if self.verb == "delete":
            return f"Cannot delete item #{item_id}: it is running (cancel it first)."
        if self.verb == "restore":
            return f"Cannot restore item #{item_id}: it is not deleted."
        return f"Cannot {self.verb} item #{item_id}: it is {status}."


NOW = object()


class Sql(str):
    """A value of ``Rule.sets`` written into the statement as is: an expression, not data."""


# A canceled item gives its unique key back, unless the key is held for a period.
FREE_CLAIM_UNLESS_PERIOD = Sql("CASE WHEN unique_scope = 'period' THEN unique_claim END")


def _status_in(*statuses: str) -> tuple[str, tuple[str, ...]]:
    return f"status IN ({', '.join(['%s'] * len(statuses))})", statuses


TRANSITIONS: dict[str, tuple[Rule, ...]] = {
    "cancel": (
        Rule(
            "cancel",
            *_status_in("waiting", "queued", "paused"),
            sets={
                "status": "canceled",
                "completed_at": NOW,
                "unique_claim": FREE_CLAIM_UNLESS_PERIOD,
            },
            finishes=True,
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
            sets={"deleted_at": NOW, "unique_claim": None},
        ),
    ),
    "restore": (Rule("restore", "deleted_at IS NOT NULL", sets={"deleted_at": None}),),
}


class ItemTransitions:
    """The operator actions of ``QueueStore``, one guarded statement per rule."""

    if TYPE_CHECKING:  # provided by QueueStore
        using: str

        @property
        def connection(self) -> BaseDatabaseWrapper: ...
        def adapt(self, value: Any) -> Any: ...
        def notify(self, queue_names: Iterable[str]) -> None: ...
        def settle_finished(
            self, finished: Sequence[int], followers: dict[int, Followers] | None = None
        ) -> None: ...
        def reopen_dependents(self, item_ids: Sequence[int]) -> list[int]: ...

    def applicable_actions(self, item_id: int) -> set[str]:
        """The actions whose guards the item passes now: what its admin page offers.

        The same guards as ``transition``, asked in one SELECT, so a button is shown exactly
        when the action would change the item (a runner may still move it before the click;
        ``transition`` then skips it with the reason).
        """
        tests: list[str] = []
        params: list[Any] = []
        for rules in TRANSITIONS.values():
            tests.append(" OR ".join(f"({rule.guard})" for rule in rules))
            params.extend(param for rule in rules for param in rule.guard_params)
        columns = ", ".join(f"CASE WHEN {test} THEN 1 ELSE 0 END" for test in tests)
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM {ITEMS} WHERE id = %s", [*params, item_id])
            row = cursor.fetchone()
        if row is None:
            return set()
        return {action for action, passes in zip(TRANSITIONS, row, strict=True) if passes}

    def transition(self, action: str, selection: QuerySet) -> TransitionResult:
        """Apply an operator action to every item of ``selection`` it applies to.

        One guarded ``UPDATE ... RETURNING`` per rule of the action (cancel has two: waiting
        items are canceled, running ones get ``cancel_requested``), one SELECT that tells
        the skipped items' status, and one wake-up for the queues that got work back. What
        follows from the items it finishes (a cancel) or reopens (a requeue) is settled in the
        same transaction: dependents, workflows, webhooks.
        """
        rules = TRANSITIONS[action]
        query = selection.using(self.using).order_by().values("pk").query
        subquery, params = query.get_compiler(using=self.using).as_sql()
        # Alone in its transaction, an action that lost a deadlock to a runner (both
        # settling one workflow) is simply tried again; inside the caller's, it cannot be.
        tries = 1 if self.connection.in_atomic_block else DEADLOCK_TRIES
        for attempt in range(1, tries + 1):
            try:
                before, changed = self._apply_rules(action, subquery, params)
                break
            except OperationalError as exc:
                if attempt == tries or not is_deadlock(exc):
                    raise
                logger.info("%s lost a deadlock (%s); trying again", action, exc)
        skipped = {
            item_id: rules[0].refusal(item_id, *state)
            for item_id, state in before.items()
            if item_id not in changed
        }
        return TransitionResult(changed=changed, skipped=skipped)

    def _apply_rules(
        self, action: str, subquery: str, subquery_params: Sequence[Any]
    ) -> tuple[dict[int, tuple[str, bool]], dict[int, str]]:
        """The items selected as they were (status, deleted) and those changed (queue)."""
        rules = TRANSITIONS[action]
        now = self.adapt(timezone.now())
        changed: dict[int, str] = {}
        finished: list[int] = []
        with transaction.atomic(using=self.using), self.connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, status, deleted_at IS NOT NULL, {FOLLOWERS.format(row=ITEMS)} "
                f"FROM {ITEMS} WHERE id IN ({subquery})",
                subquery_params,
            )
            rows = cursor.fetchall()
            before = {row[0]: (row[1], bool(row[2])) for row in rows}
            followers = followers_from((row[0], *row[3:]) for row in rows)
            for rule in rules:
                assignments, values = rule.assignments(now)
                cursor.execute(
                    f"UPDATE {ITEMS} SET {assignments}, updated_at = %s "
                    f"WHERE id IN ({subquery}) AND {rule.guard} RETURNING id, queue_name",
                    [*values, now, *subquery_params, *rule.guard_params],
                )
                rows = cursor.fetchall()
                changed.update(rows)
                if rule.finishes:
                    finished += sorted(item_id for item_id, _ in rows)
            if rules[0].wakes_runners:
                self.notify(set(changed.values()))
            self.settle_finished(
                finished, {pk: followers[pk] for pk in finished if pk in followers}
            )
            reopened = sorted(pk for pk in changed if pk in followers)
            if action == "requeue" and reopened:
                self.reopen_dependents(reopened)
        return before, changed
