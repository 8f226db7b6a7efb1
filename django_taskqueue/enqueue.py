"""Turning ``(alias, parameters)`` into queue rows: validation first, then one statement.

``enqueue_by_alias`` and ``enqueue_many`` share the store's one insert: the definition's
defaults are read by the INSERT itself, and on PostgreSQL the runners' wake-up travels in the
same statement. Every other door (the Tasks backend, the HTTP API, the admin, the CLI) calls
one of these two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from .exceptions import InactiveDefinition, InvalidParameters, UnknownAlias
from .jsonvalues import encode_parameters
from .models import QueueItem, TaskDefinition
from .registry import is_registered, registered_aliases
from .store import QueueStore, get_store
from .validation import (
    check_integer,
    check_priority,
    one_queue_name,
    resolve_run_at,
    validate_name,
)

MAX_BATCH_SIZE = 100_000

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
) -> QueueItem:
    """Store one execution of ``alias``. Inside ``atomic()`` runners see it only at commit.

    ``queue`` is another spelling of ``queue_name``, as in ``@handler(queue=...)``.

    With ``TASKQUEUE["DATABASE"]`` set, "inside atomic()" means an ``atomic(using=...)`` on
    that alias: a transaction on another database does not cover the item.
    """
    queue_name = one_queue_name(queue, queue_name, InvalidParameters)
    when = _check_arguments(alias, queue_name, priority, run_at, delay)
    encoded = encode_parameters(parameters)
    store = get_store()
    now = timezone.now()
    (row,) = _insert(store, alias, [encoded], queue_name, priority, when, now)
    item_id, definition_id, queue, max_attempts, item_priority = row
    values = dict(
        _NEW_ITEM,
        id=item_id,
        definition_id=definition_id,
        queue_name=queue,
        parameters=parameters or {},
        max_attempts=max_attempts,
        priority=item_priority,
        run_at=when,
        created_at=now,
        updated_at=now,
    )
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
) -> list[int]:
    """Store many executions of ``alias`` at once, all or nothing; return their ids in order.

    Every row is checked before anything is written (not even a definition row is created
    for a call that fails). Ids rather than model instances, because building thousands of
    instances costs more than the insert itself; fetch ``QueueItem.objects.filter(pk__in=ids)``
    when you need rows.
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
    store = get_store()
    now = timezone.now()
    ids: list[int] = []
    with transaction.atomic(using=store.using):
        for start in range(0, len(encoded), batch_size):
            batch = encoded[start : start + batch_size]
            ids += [row[0] for row in _insert(store, alias, batch, queue_name, priority, when, now)]
    return ids


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
