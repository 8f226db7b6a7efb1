"""The shipped router, but migrating the queue's tables on every alias, so that the tests can
move the queue to the ``queue`` alias and back with ``override_settings``."""

from typing import Any

from django_taskqueue.routers import APP_LABEL, TaskQueueRouter


class EverywhereInTestsRouter(TaskQueueRouter):
    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return True if app_label == APP_LABEL else None
