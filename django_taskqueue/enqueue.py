"""Turning ``(alias, parameters)`` into queue rows: validation first, then one statement.

``enqueue_by_alias`` and ``enqueue_many`` share the store's one insert: the definition's
defaults are read by the INSERT itself, and on PostgreSQL the runners' wake-up travels in the
same statement. Every other door (the Tasks backend, the HTTP API, the admin, the CLI) calls
one of these two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import tracing
from .dependencies import attach_to_parents, check_depends_on, check_on_parent_failure
from .exceptions import (
    DuplicateItem,
    InvalidParameters,
    UnknownAlias,
)
from .inserts import EnqueuedIds, insert_items, insert_rows, insert_unique_item
from .jsonvalues import encode_parameters
from .limits import check_concurrency_key
from .models import QueueItem
from .registry import is_registered, registered_aliases
from .store import QueueStore, get_store
from .tenants import check_tenant, tenant_key
from .uniqueness import check_on_duplicate, check_unique_key
from .validation import (
    check_integer,
    check_priority,
    one_queue_name,
    resolve_run_at,
    validate_name,
)
from .webhooks.payloads import refuse_internal_alias
from .webhooks.urls import check_webhook_url

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
    unique_key: str | None = None,
    on_duplicate: str = "return",
    concurrency_key: str | None = None,
    depends_on: Sequence[QueueItem | int] | None = None,
    on_parent_failure: str = "cancel",
    webhook_url: str | None = None,
    tenant: str | None = None,
) -> QueueItem:
    """Store one execution of ``alias``. Inside ``atomic()`` runners see it only at commit.

        ``queue`` is another spelling of ``queue_name``, as in ``@handler(queue=...)``. With a
        ``unique_key``, an item of ``alias`` already holding that key (see ``uniqueness.py``) is
        returned instead of a new one, or ``DuplicateItem`` raised with ``on_duplicate="raise"``.
        ``concurrency_key`` (``"customer:42"``) is the key its definition's ``key_*_limit`` count
        by, and the claims take keys in turn.

        With ``depends_on`` (items or ids) it waits, in status ``waiting``, until every parent
        has succeeded; ``on_parent_failure="cancel"`` cancels it (and its own dependents) when a
        parent fails or is canceled, ``"run"`` runs it once every parent is finished, whatever
        the outcome. ``webhook_url`` is where its final outcome is POSTed (docs/webhooks.md).
    ``tenant`` names the tenant it belongs to (docs/tenants.md); without a ``concurrency_key``
    it takes ``tenant:<tenant>`` as its key, so tenants take turns.

        With ``TASKQUEUE["DATABASE"]`` set, "inside atomic()" means an ``atomic(using=...)`` on
        that alias: a transaction on another database does not cover the item.
    """
    queue_name = one_queue_name(queue, queue_name, InvalidParameters)
    when = check_arguments(alias, queue_name, priority, run_at, delay)
    on_duplicate = check_on_duplicate(on_duplicate)
    concurrency_key = check_concurrency_key(concurrency_key)
    tenant = check_tenant(tenant)
    parents = check_depends_on(depends_on)
    on_parent_failure = check_on_parent_failure(on_parent_failure)
    webhook_url = check_webhook_url(webhook_url, InvalidParameters)
    encoded = encode_parameters(parameters)
    store = get_store()
    now = timezone.now()
    arguments = (store, alias, parameters, encoded, queue_name, priority, when, now)
    send = tracing.sending(store, alias=alias, queue_name=queue_name)
    if concurrency_key is None and tenant is None and not parents and not webhook_url:
        with send:
            return _store_one(*arguments, unique_key, on_duplicate)
    with transaction.atomic(using=store.using), send:  # what goes with the row goes in with it
        item = _store_one(*arguments, unique_key, on_duplicate)
        if item.duplicate:
            return item
        if concurrency_key is not None:
            store.set_concurrency_keys({concurrency_key: [item.pk]})
            item.concurrency_key = concurrency_key
        if tenant is not None:
            store.set_tenant(tenant, [item.pk])
            item.tenant = tenant
            item.concurrency_key = item.concurrency_key or tenant_key(tenant)
        if webhook_url:
            store.mark_steps([item.pk], webhook_urls={webhook_url: [item.pk]})
            item.webhook_url = webhook_url
        if parents:
            item.on_parent_failure = on_parent_failure
            item.status = attach_to_parents(store, item.pk, parents, on_parent_failure)
    return item


def _store_one(
    store: QueueStore,
    alias: str,
    parameters: dict[str, Any] | None,
    encoded: str,
    queue_name: str | None,
    priority: int | None,
    when: datetime,
    now: datetime,
    unique_key: str | None,
    on_duplicate: str,
) -> QueueItem:
    """One checked item's row, and the instance of it ``enqueue_by_alias`` returns."""
    if unique_key is not None:
        key = check_unique_key(unique_key)
        found, holder = insert_unique_item(
            store, alias, encoded, queue_name, priority, when, now, key
        )
        if holder is not None:
            if on_duplicate == "raise":
                raise DuplicateItem(alias, key, holder)
            existing = QueueItem.all_objects.using(store.using).get(pk=holder)
            existing.duplicate = True
            return existing
        assert found is not None
        row, scope = found[:5], found[5]
    else:
        (row,) = insert_items(store, alias, [encoded], queue_name, priority, when, now)
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
    concurrency_key: str | None = None,
    concurrency_keys: Sequence[str | None] | None = None,
    tenant: str | None = None,
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

    ``concurrency_key`` gives every row that key, ``concurrency_keys`` one per row (or None);
    ``tenant`` gives every row that tenant (and its key, to the rows given none).
    """
    queue_name = one_queue_name(queue, queue_name, InvalidParameters)
    when = check_arguments(alias, queue_name, priority, run_at, delay)
    check_integer(batch_size, "batch_size", 1, MAX_BATCH_SIZE, InvalidParameters)
    try:
        originals = list(parameters_list)
    except TypeError:
        raise InvalidParameters(
            f"parameters_list must be an iterable of dicts, not {type(parameters_list).__name__}."
        ) from None
    encoded = [encode_parameters(parameters) for parameters in originals]
    keys = _row_keys(unique_keys, len(encoded), "unique_keys", check_unique_key)
    if concurrency_keys is not None and concurrency_key is not None:
        raise InvalidParameters("Give concurrency_key or concurrency_keys, not both.")
    flow_keys = _row_keys(concurrency_keys, len(encoded), "concurrency_keys", check_concurrency_key)
    if concurrency_key is not None:
        flow_keys = [check_concurrency_key(concurrency_key)] * len(encoded)
    tenant = check_tenant(tenant)
    raise_duplicate = check_on_duplicate(on_duplicate) == "raise"
    store = get_store()
    now = timezone.now()
    send = tracing.sending(store, alias=alias, queue_name=queue_name, batch=True)
    with transaction.atomic(using=store.using), send:
        ids = insert_rows(
            store,
            alias,
            encoded,
            keys,
            raise_duplicate,
            batch_size,
            queue_name,
            priority,
            when,
            now,
        )
        if flow_keys is not None:
            by_key: dict[str, list[int]] = {}
            for index, (item_id, key) in enumerate(zip(ids, flow_keys, strict=True)):
                if key is not None and index not in ids.duplicates:
                    by_key.setdefault(key, []).append(item_id)
            store.set_concurrency_keys(by_key)
        if tenant is not None:
            new = [item_id for index, item_id in enumerate(ids) if index not in ids.duplicates]
            store.set_tenant(tenant, new)
    return ids


def _row_keys(
    values: Any, rows: int, name: str, check: Callable[[Any], str | None]
) -> list[str | None] | None:
    if values is None:
        return None
    try:
        keys = list(values)
    except TypeError:
        raise InvalidParameters(f"{name} must be a list of keys (or None per row).") from None
    if len(keys) != rows:
        raise InvalidParameters(
            f"{name} has {len(keys)} entries for {rows} rows; give one per row (or None)."
        )
    return [None if key is None else check(key) for key in keys]


def check_arguments(
    alias: Any, queue_name: Any, priority: Any, run_at: Any, delay: Any
) -> datetime:
    """Every rule on an enqueue call but the parameters'; returns when the item is ready."""
    validate_name(alias, "alias")
    if not is_registered(alias):
        raise UnknownAlias(alias, registered_aliases())
    refuse_internal_alias(alias)
    if priority is not None:
        check_priority(priority)
    if queue_name is not None:
        validate_name(queue_name, "queue name")
    return resolve_run_at(run_at, delay)
