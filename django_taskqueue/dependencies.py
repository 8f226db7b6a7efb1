"""The rules of ``depends_on``, and attaching a new item to its parents.

An item enqueued with ``depends_on`` waits (status ``waiting``) until its parents have
succeeded; ``on_parent_failure`` says what a parent that fails or is canceled means for it.
The store settles waiting items whenever items finish (``store/dependencies.py``); this is
the door's half: the checks every door shares, and the first judgement of a new item, whose
parents may have finished before it existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .exceptions import InvalidParameters
from .models import QueueItem
from .store import QueueStore
from .validation import MAX_ITEM_ID, shown

ON_PARENT_FAILURE = tuple(QueueItem.OnParentFailure.values)
MAX_PARENTS = 10_000


def check_depends_on(value: Any) -> list[int]:
    """The parents' ids, in order: a list of items or item ids, each given once."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, Sequence):
        raise InvalidParameters(
            f"depends_on must be a list of items or item ids, not {type(value).__name__}."
        )
    if len(value) > MAX_PARENTS:
        raise InvalidParameters(
            f"depends_on lists {len(value)} parents; the limit is {MAX_PARENTS:,}."
        )
    ids: list[int] = []
    for parent in value:
        item_id = parent.pk if isinstance(parent, QueueItem) else parent
        if isinstance(item_id, bool) or not isinstance(item_id, int):
            raise InvalidParameters(
                f"depends_on must hold items or item ids; {shown(parent)} is neither."
            )
        if not 1 <= item_id <= MAX_ITEM_ID:
            raise InvalidParameters(f"depends_on holds {shown(parent)}, which is no item id.")
        if item_id in ids:
            raise InvalidParameters(f"depends_on lists item #{item_id} twice.")
        ids.append(item_id)
    return ids


def check_on_parent_failure(value: Any) -> str:
    if value not in ON_PARENT_FAILURE:
        raise InvalidParameters(f"on_parent_failure must be 'cancel' or 'run', not {shown(value)}.")
    return str(value)


def missing_parents(ids: list[int]) -> InvalidParameters:
    """The refusal of parents that do not exist (or, for a tenant's token, are not its)."""
    return InvalidParameters(
        f"depends_on names item(s) {', '.join(f'#{p}' for p in ids)}, which do not exist."
    )


def attach_to_parents(
    store: QueueStore, item_id: int, parents: list[int], on_parent_failure: str
) -> str:
    """Make the new item ``item_id`` wait for ``parents`` (in the caller's transaction) and
    judge it at once; its status now. ``InvalidParameters`` if a parent does not exist."""
    store.mark_steps(
        [item_id],
        waiting=[item_id],
        run_on_parent_failure=[item_id] if on_parent_failure == "run" else (),
    )
    found = store.lock_parents(parents)
    missing = [parent for parent in parents if parent not in found]
    if missing:
        raise missing_parents(missing)
    store.add_dependencies({item_id: parents}, found)
    status = store.judge_children([item_id]).get(item_id, QueueItem.Status.WAITING)
    if status == QueueItem.Status.CANCELED:
        store.settle_finished([item_id])
    return status
