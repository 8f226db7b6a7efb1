"""Turning ``(alias, parameters)`` into queue rows: validation first, then one statement.

``enqueue_by_alias`` and ``enqueue_many`` share the store's one insert: the definition's
defaults are read by the INSERT itself, and on PostgreSQL the runners' wake-up travels in the
same statement. Every other door (the Tasks backend, the HTTP API, the admin, the CLI) calls
one of these two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from .exceptions import (
    DuplicateItem,
    InactiveDefinition,
    InvalidParameters,
    TaskQueueError,
    UnknownAlias,
)
from .jsonvalues import encode_parameters
from .models import QueueItem, TaskDefinition
from .registry import is_registered, registered_aliases
from .store import QueueStore, get_store
from .uniqueness import PERIOD, check_on_duplicate, check_unique_key, holds_claim
from .validation import (
    check_integer,
    check_priority,
    one_queue_name,
    resolve_run_at,
    validate_name,
)

MAX_BATCH_SIZE = 100_000
MAX_UNIQUE_TRIES = 5

_FIELDS = [field.attname for field in QueueItem._meta.concrete_fields]
# What a new row holds in the columns the insert leaves to their defaults.
_NEW_ITEM = {
    field.attname: field.get_default()
    for field in QueueItem._meta.concrete_fields
    if field.attname not in ("parameters",)
}


def enqueue_by_alias(
    alias: str,
    parameters: dict[str, Any] | None = None,
    *,
    queue_name: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    queue: str | None = None,
    unique_key: str | None = None,
    on_duplicate: str = "return",
) -> QueueItem:
    """Store one execution of ``alias``. Inside ``atomic()`` runners see it only at commit.

    ``queue`` is another spelling of ``queue_name``, as in ``@handler(queue=...)``. With a
    ``unique_key``, an item of ``alias`` already holding that key (see ``uniqueness.py``) is
    returned instead of a new one, or ``DuplicateItem`` raised with ``on_duplicate="raise"``.

    With ``TASKQUEUE["DATABASE"]`` set, "inside atomic()" means an ``atomic(using=...)`` on
    that alias: a transaction on another database does not cover the item.
    """
    queue_name = one_queue_name(queue, queue_name, InvalidParameters)
    when = _check_arguments(alias, queue_name, priority, run_at, delay)
    on_duplicate = check_on_duplicate(on_duplicate)
    encoded = encode_parameters(parameters)
    store = get_store()
    now = timezone.now()
    if unique_key is not None:
        key = check_unique_key(unique_key)
        found, holder = _insert_unique(store, alias, encoded, queue_name, priority, when, now, key)
        if holder is not None:
            if on_duplicate == "raise":
                raise DuplicateItem(alias, key, holder)
            existing = QueueItem.all_objects.using(store.using).get(pk=holder)
            existing.duplicate = True
            return existing
        assert found is not None
        row, scope = found[:5], found[5]
    else:
        (row,) = _insert(store, alias, [encoded], queue_name, priority, when, now)
    item_id, definition_id, item_queue, max_attempts, item_priority = row
    values = dict(
        _NEW_ITEM,
        id=item_id,
        definition_id=definition_id,
        queue_name=item_queue,
        parameters=parameters or {},
        max_attempts=max_attempts,
        priority=item_priority,
        run_at=when,
        created_at=now,
        updated_at=now,
    )
    if unique_key is not None:  # what the INSERT wrote; the scope from the definition row
        values.update(unique_key=unique_key, unique_scope=scope, unique_claim=unique_key)
    # from_db: the instance of a row that exists, built positionally (half the cost of
    # keyword arguments, which matters when enqueueing is all a request does).
    return QueueItem.from_db(store.using, _FIELDS, [values[name] for name in _FIELDS])


def enqueue_many(
    alias: str,
    parameters_list: Iterable[dict[str, Any] | None],
    *,
    queue_name: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    batch_size: int = 5000,
    queue: str | None = None,
    unique_keys: Sequence[str | None] | None = None,
    on_duplicate: str = "return",
) -> EnqueuedIds:
    """Store many executions of ``alias`` at once, all or nothing; return their ids in order.

    Every row is checked before anything is written (not even a definition row is created
    for a call that fails). Ids rather than model instances, because building thousands of
    instances costs more than the insert itself; fetch ``QueueItem.objects.filter(pk__in=ids)``
    when you need rows.

    ``unique_keys`` gives each row a unique key (or None): a row whose key is held is not
    written; its place in the result holds the holder's id, and ``result.duplicates`` maps
    its index to that id. With ``on_duplicate="raise"`` the first such row raises
    ``DuplicateItem`` and nothing is written.
    """
    queue_name = one_queue_name(queue, queue_name, InvalidParameters)
    when = _check_arguments(alias, queue_name, priority, run_at, delay)
    check_integer(batch_size, "batch_size", 1, MAX_BATCH_SIZE, InvalidParameters)
    try:
        originals = list(parameters_list)
    except TypeError:
        raise InvalidParameters(
            f"parameters_list must be an iterable of dicts, not {type(parameters_list).__name__}."
        ) from None
    encoded = [encode_parameters(parameters) for parameters in originals]
    keys = _row_keys(unique_keys, len(encoded))
    raise_duplicate = check_on_duplicate(on_duplicate) == "raise"
    store = get_store()
    now = timezone.now()
    ids = EnqueuedIds()
    with transaction.atomic(using=store.using):
        if keys is None:
            for start in range(0, len(encoded), batch_size):
                batch = encoded[start : start + batch_size]
                rows = _insert(store, alias, batch, queue_name, priority, when, now)
                ids += [row[0] for row in rows]
            return ids
        # Keys are taken in sorted order, as by every such call, so two calls that share keys
        # wait for each other instead of deadlocking; the ids come back in row order.
        in_key_order = sorted(range(len(keys)), key=lambda i: (keys[i] is not None, keys[i] or ""))
        by_row: dict[int, int] = {}
        for index in in_key_order:
            text, key = encoded[index], keys[index]
            if key is None:
                by_row[index] = _insert(store, alias, [text], queue_name, priority, when, now)[0][0]
                continue
            row, holder = _insert_unique(store, alias, text, queue_name, priority, when, now, key)
            if holder is None:
                assert row is not None
                by_row[index] = row[0]
            elif raise_duplicate:
                raise DuplicateItem(alias, key, holder)
            else:
                ids.duplicates[index] = by_row[index] = holder
        ids += [by_row[index] for index in range(len(keys))]
    return ids


class EnqueuedIds(list[int]):
    """The ids ``enqueue_many`` returns, in row order; ``duplicates`` maps the index of each
    row that was not written (its unique key was held) to the id of the holder."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        super().__init__(ids)
        self.duplicates: dict[int, int] = {}


def _row_keys(unique_keys: Any, rows: int) -> list[str | None] | None:
    if unique_keys is None:
        return None
    try:
        keys = list(unique_keys)
    except TypeError:
        raise InvalidParameters("unique_keys must be a list of keys (or None per row).") from None
    if len(keys) != rows:
        raise InvalidParameters(
            f"unique_keys has {len(keys)} entries for {rows} rows; give one per row (or None)."
        )
    return [None if key is None else check_unique_key(key) for key in keys]


def _check_arguments(
    alias: Any, queue_name: Any, priority: Any, run_at: Any, delay: Any
) -> datetime:
    """Every rule on an enqueue call but the parameters'; returns when the item is ready."""
    validate_name(alias, "alias")
    if not is_registered(alias):
        raise UnknownAlias(alias, registered_aliases())
    if priority is not None:
        check_priority(priority)
    if queue_name is not None:
        validate_name(queue_name, "queue name")
    return resolve_run_at(run_at, delay)


def _insert_unique(
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


def _insert(
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
    return rows
