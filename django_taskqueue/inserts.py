"""The rows of an enqueue: the store's insert, and the rules around it for unique keys.

``enqueue.py`` checks the arguments; this turns them into rows, interpreting what the one
insert statement refuses (a missing definition, a held unique key) so that every door gets
the same answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from . import tracing
from .exceptions import DuplicateItem, InactiveDefinition, TaskQueueError
from .models import TaskDefinition
from .store import QueueStore
from .uniqueness import PERIOD, holds_claim

MAX_UNIQUE_TRIES = 5


class EnqueuedIds(list[int]):
    """The ids ``enqueue_many`` returns, in row order; ``duplicates`` maps the index of each
    row that was not written (its unique key was held) to the id of the holder."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        super().__init__(ids)
        self.duplicates: dict[int, int] = {}


def insert_rows(
    store: QueueStore,
    alias: str,
    encoded: list[str],
    keys: list[str | None] | None,
    raise_duplicate: bool,
    batch_size: int,
    queue_name: str | None,
    priority: int | None,
    when: datetime,
    now: datetime,
) -> EnqueuedIds:
    ids = EnqueuedIds()
    if keys is None:
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            rows = insert_items(store, alias, batch, queue_name, priority, when, now)
            ids += [row[0] for row in rows]
        return ids
    # Keys are taken in sorted order, as by every such call, so two calls that share keys
    # wait for each other instead of deadlocking; the ids come back in row order.
    in_key_order = sorted(range(len(keys)), key=lambda i: (keys[i] is not None, keys[i] or ""))
    by_row: dict[int, int] = {}
    for index in in_key_order:
        text, key = encoded[index], keys[index]
        if key is None:
            (inserted,) = insert_items(store, alias, [text], queue_name, priority, when, now)
            by_row[index] = inserted[0]
            continue
        row, holder = insert_unique_item(store, alias, text, queue_name, priority, when, now, key)
        if holder is None:
            assert row is not None
            by_row[index] = row[0]
        elif raise_duplicate:
            raise DuplicateItem(alias, key, holder)
        else:
            ids.duplicates[index] = by_row[index] = holder
    ids += [by_row[index] for index in range(len(keys))]
    return ids


def insert_unique_item(
    store: QueueStore,
    alias: str,
    encoded: str,
    queue_name: str | None,
    priority: int | None,
    run_at: datetime,
    now: datetime,
    key: str,
) -> tuple[tuple[int, int, str, int, int, str] | None, int | None]:
    """``(row, None)`` for a new item holding ``key``, ``(None, id)`` for the item that
    holds it already.

    The insert is the arbiter (a unique index), so this only interprets its refusals: a key
    whose holder is gone by the time we look (it was claimed or finished meanwhile), a
    missing definition (created, then tried again) and an expired period (freed, then tried
    again) each lead to one more insert.
    """
    for _ in range(MAX_UNIQUE_TRIES):
        row = store.insert_unique(
            alias,
            encoded,
            queue_name=queue_name,
            priority=priority,
            run_at=run_at,
            now=now,
            unique_key=key,
        )
        if row is not None:
            tracing.inserted([row])
            return row, None
        # No row: a missing definition is created (an inactive one raises), then who holds it.
        TaskDefinition.objects.db_manager(store.using).for_alias(alias)
        holder = store.unique_holder(alias, key)
        if holder is None:
            continue
        if not holds_claim(holder["unique_scope"], holder["status"]):
            store.free_claim(holder["id"], key, None)
            continue
        period = holder["definition__unique_for_seconds"]
        if holder["unique_scope"] == PERIOD and store.free_claim(
            holder["id"], key, now - timedelta(seconds=period if period and period > 0 else 0)
        ):
            continue
        return None, holder["id"]
    raise TaskQueueError(
        f"Could not enqueue {alias!r} with unique key {key!r}: its holder kept changing."
    )


def insert_items(
    store: QueueStore,
    alias: str,
    encoded: list[str],
    queue_name: str | None,
    priority: int | None,
    run_at: datetime,
    now: datetime,
) -> list[tuple[int, int, str, int, int]]:
    """The store's insert; the definition is looked at separately only when that statement
    finds no usable row, to create it from the handler's defaults or to say why it cannot be
    used."""

    def insert() -> list[tuple[int, int, str, int, int]] | None:
        return store.insert_items(
            alias, encoded, queue_name=queue_name, priority=priority, run_at=run_at, now=now
        )

    rows = insert()
    if rows is None:
        TaskDefinition.objects.db_manager(store.using).for_alias(alias)  # creates, or raises
        rows = insert()
    if rows is None:  # deactivated or deleted between the two statements
        raise InactiveDefinition(alias)
    tracing.inserted(rows)
    return rows
