"""``QueueTask``: Django's ``Task`` with the queue's flow-control options.

``TaskQueueBackend.task_class`` is this class, so Django's own decorator passes our options
through::

    @task(rate_limit="20/s", key_concurrency_limit=1)
    def sync_customer(customer_id): ...

    sync_customer.using(concurrency_key="customer:42", unique_key="sync:42").enqueue(42)

Definition options (``rate_limit``, ``concurrency_limit``, ``key_concurrency_limit``,
``key_rate_limit``, ``unique_while``, ``unique_for``) give the task a definition of its own,
aliased ``django.tasks.<module path>``, seeded with them and then edited by operators like any
other; runners run it with the backend's one handler, whether or not they imported it (see
``registry.register_family``). Item options
(``unique_key``, ``concurrency_key``) apply to each enqueue, set in ``@task`` or ``.using()``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, cast

from django.tasks import Task

TASK_ALIAS = "django.tasks"
ALIAS_MAX_LENGTH = 100
DEFINITION_OPTIONS = (
    "rate_limit",
    "concurrency_limit",
    "key_concurrency_limit",
    "key_rate_limit",
    "unique_while",
    "unique_for",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueTask(Task):
    rate_limit: str | None = None
    concurrency_limit: int | None = None
    key_concurrency_limit: int | None = None
    key_rate_limit: str | None = None
    unique_while: str | None = None
    unique_for: str | float | None = None
    unique_key: str | None = None
    concurrency_key: str | None = None

    def using(
        self,
        *,
        unique_key: str | None = None,
        concurrency_key: str | None = None,
        **changes: Any,
    ) -> QueueTask:
        """Django's ``using()``, plus this enqueue's ``unique_key`` and ``concurrency_key``."""
        task = cast(QueueTask, Task.using(self, **changes))
        if unique_key is not None:
            task = replace(task, unique_key=unique_key)
        if concurrency_key is not None:
            task = replace(task, concurrency_key=concurrency_key)
        return task

    def definition_options(self) -> dict[str, Any]:
        options = {name: getattr(self, name) for name in DEFINITION_OPTIONS}
        return {name: value for name, value in options.items() if value is not None}

    @property
    def alias(self) -> str:
        """The definition its items belong to: its own when it has definition options."""
        return own_alias(self.module_path) if self.definition_options() else TASK_ALIAS


def own_alias(module_path: str) -> str:
    alias = f"{TASK_ALIAS}.{module_path}"
    if len(alias) <= ALIAS_MAX_LENGTH:
        return alias
    digest = hashlib.sha256(module_path.encode()).hexdigest()[:12]
    return f"{alias[: ALIAS_MAX_LENGTH - 13]}-{digest}"


def task_alias(task: Task) -> str:
    return task.alias if isinstance(task, QueueTask) else TASK_ALIAS


def item_options(task: Task) -> dict[str, Any]:
    """The keyword arguments of ``enqueue_by_alias`` a task's item options stand for."""
    if not isinstance(task, QueueTask):
        return {}
    options = {"unique_key": task.unique_key, "concurrency_key": task.concurrency_key}
    return {name: value for name, value in options.items() if value is not None}
