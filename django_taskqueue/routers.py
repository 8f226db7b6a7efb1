"""A database router that sends the queue's models to ``TASKQUEUE["DATABASE"]``.

``DATABASE_ROUTERS = ["django_taskqueue.routers.TaskQueueRouter"]``: the admin, the HTTP API
and your own ORM queries on ``QueueItem`` and friends then read and write the same database as
the store, and ``migrate --database <alias>`` creates the queue's tables there only.
"""

from __future__ import annotations

from typing import Any

from .store import queue_database

APP_LABEL = "django_taskqueue"


class TaskQueueRouter:
    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return queue_database() if model._meta.app_label == APP_LABEL else None  # type: ignore[attr-defined]

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        labels = {obj1._meta.app_label, obj2._meta.app_label}
        return True if labels == {APP_LABEL} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == APP_LABEL:
            return db == queue_database()
        return None
