"""Turning ``(alias, parameters)`` into queue rows: validation first, then one statement."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .exceptions import InactiveDefinition, InvalidParameters, UnknownAlias
from .models import QueueItem, TaskDefinition
from .notify import CHANNEL, notify_enabled, wake_runners
from .registry import registered_aliases
from .validation import (
    check_integer,
    check_priority,
    encode_parameters,
    resolve_run_at,
    validate_name,
)

MAX_BATCH_SIZE = 100_000


def _build_item(
    definition: TaskDefinition,
    queue_name: str | None,
    priority: int | None,
    run_at: datetime,
) -> QueueItem:
    """An unsaved item with everything but its parameters, which the caller has validated."""
    queue = validate_name(definition.queue_name if queue_name is None else queue_name, "queue name")
    now = timezone.now()
    return QueueItem(
        definition=definition,
        queue_name=queue,
        priority=definition.priority if priority is None else priority,
        max_attempts=definition.max_attempts,
        run_at=run_at,
        created_at=now,
        updated_at=now,
    )


def enqueue_by_alias(
    alias: str,
    parameters: dict[str, Any] | None = None,
    *,
    queue_name: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
) -> QueueItem:
    """Store one execution of ``alias``. Inside ``atomic()`` runners see it only at commit.

    One statement reads the definition, inserts the item and (on PostgreSQL) notifies
    runners; the definition is looked at separately only when that statement finds no usable
    row, to create it from the handler's defaults or to say why it cannot be used.
    """
    when = _check_arguments(alias, queue_name, priority, run_at, delay)
    encoded = encode_parameters(parameters)
    item = _insert_one(alias, encoded, queue_name, priority, when)
    if item is None:
        TaskDefinition.objects.for_alias(alias)  # creates the row, or raises why it is unusable
        item = _insert_one(alias, encoded, queue_name, priority, when)
    if item is None:  # deactivated or deleted between the two statements
        raise InactiveDefinition(alias)
    item.parameters = parameters or {}
    return item


def _check_arguments(
    alias: Any, queue_name: Any, priority: Any, run_at: Any, delay: Any
) -> datetime:
    """Every rule on an enqueue call but the parameters'; returns when the item is ready."""
    validate_name(alias, "alias")
    if alias not in registered_aliases():
        raise UnknownAlias(alias, registered_aliases())
    if priority is not None:
        check_priority(priority)
    if queue_name is not None:
        validate_name(queue_name, "queue name")
    return resolve_run_at(run_at, delay)


_INSERT_ONE = """
INSERT INTO {items} (
    definition_id, queue_name, status, parameters, details, last_error, attempts,
    max_attempts, priority, run_at, created_at, updated_at, cancel_requested
)
SELECT id, COALESCE(%s, queue_name), 'queued', {json}, '', '', 0,
       max_attempts, COALESCE(%s, priority), %s, %s, %s, FALSE
FROM {definitions}
WHERE alias = %s AND is_active AND deleted_at IS NULL
RETURNING id, definition_id, queue_name, max_attempts, priority
"""


def _insert_one(
    alias: str, encoded: str, queue_name: str | None, priority: int | None, when: datetime
) -> QueueItem | None:
    sql = _INSERT_ONE.format(
        items=QueueItem._meta.db_table,
        definitions=TaskDefinition._meta.db_table,
        json="%s::jsonb" if connection.vendor == "postgresql" else "%s",
    )
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = [queue_name, encoded, priority, adapt(when), adapt(now), adapt(now), alias]
    if notify_enabled(connection):
        # Sent inside the enqueuing transaction, so runners hear of the item at commit.
        sql = f"WITH item AS ({sql}) SELECT item.*, pg_notify(%s, item.queue_name) FROM item"
        params.append(CHANNEL)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    item = QueueItem(
        id=row[0],
        definition_id=row[1],
        queue_name=row[2],
        max_attempts=row[3],
        priority=row[4],
        run_at=when,
        created_at=now,
        updated_at=now,
    )
    item._state.adding = False
    item._state.db = connection.alias
    return item


def enqueue_many(
    alias: str,
    parameters_list: Iterable[dict[str, Any] | None],
    *,
    queue_name: str | None = None,
    priority: int | None = None,
    run_at: datetime | None = None,
    delay: float | timedelta | None = None,
    batch_size: int = 5000,
) -> list[int]:
    """Store many executions of ``alias`` at once, all or nothing; return their ids in order.

    Ids rather than model instances, because building thousands of instances costs more than
    the insert itself; fetch ``QueueItem.objects.filter(pk__in=ids)`` when you need rows.
    """
    when = _check_arguments(alias, queue_name, priority, run_at, delay)
    check_integer(batch_size, "batch_size", 1, MAX_BATCH_SIZE, InvalidParameters)
    try:
        originals = list(parameters_list)
    except TypeError:
        raise InvalidParameters(
            f"parameters_list must be an iterable of dicts, not {type(parameters_list).__name__}."
        ) from None
    encoded = [encode_parameters(parameters) for parameters in originals]
    # Only now, with every row valid, may the definition row be created.
    definition = TaskDefinition.objects.for_alias(alias)
    template = _build_item(definition, queue_name, priority, when)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = _insert_postgres(template, encoded, batch_size)
        else:
            shared = {
                field.attname: getattr(template, field.attname)
                for field in QueueItem._meta.concrete_fields
                if not field.primary_key
            }
            items = [QueueItem(**{**shared, "parameters": p or {}}) for p in originals]
            QueueItem.objects.bulk_create(items, batch_size=batch_size)
            ids = [item.pk for item in items]
        if ids:
            wake_runners([template.queue_name])
    return ids


# Every row of one call shares all columns but the parameters, so PostgreSQL gets them once and
# the parameters as one array: a single short statement per batch, no per-row SQL to build.
_INSERT_POSTGRES = f"""
INSERT INTO {QueueItem._meta.db_table} (
    definition_id, queue_name, status, parameters, details, last_error, attempts,
    max_attempts, priority, run_at, created_at, updated_at, cancel_requested
)
SELECT %s, %s, 'queued', p.value, '', '', 0, %s, %s, %s, %s, %s, FALSE
FROM unnest(%s::jsonb[]) WITH ORDINALITY AS p(value, position)
ORDER BY p.position
RETURNING id
"""


def _insert_postgres(template: QueueItem, encoded: list[str], batch_size: int) -> list[int]:
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(encoded), batch_size):
            cursor.execute(
                _INSERT_POSTGRES,
                [
                    template.definition_id,
                    template.queue_name,
                    template.max_attempts,
                    template.priority,
                    template.run_at,
                    template.created_at,
                    template.updated_at,
                    encoded[start : start + batch_size],
                ],
            )
            ids.extend(sorted(row[0] for row in cursor.fetchall()))
    return ids
