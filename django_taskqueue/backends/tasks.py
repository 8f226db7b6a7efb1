"""A backend for Django's Tasks framework (``django.tasks``, Django 6.0+) over our queue.

``TASKS = {"default": {"BACKEND": "django_taskqueue.backends.tasks.TaskQueueBackend"}}`` makes
``my_task.enqueue(...)`` store a queue item that ``runqueue`` runs like any other. Every Django
task shares one internal definition, ``django.tasks``, whose handler imports the task by its
module path. That path comes from item parameters, which operators and API clients can also
write, so the backend signs it with ``SECRET_KEY`` when it enqueues and the handler imports
nothing whose signature does not check out, and runs nothing that is not a ``Task``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import django
from django.core.exceptions import ImproperlyConfigured

try:
    from django.tasks import Task, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued
except ImportError as exc:
    raise ImproperlyConfigured(
        "django_taskqueue.backends.tasks requires Django 6.0+, which ships django.tasks; "
        f"this is Django {django.get_version()}. Enqueue with enqueue_by_alias() instead."
    ) from exc

from django.apps import apps
from django.core import checks
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.json import normalize_json

from ..exceptions import HandlerNotFound, InvalidName, InvalidValue
from ..registry import handler, register_family
from ..validation import validate_name
from .queue_tasks import TASK_ALIAS, QueueTask, item_options, task_alias
from .task_runs import load_task, run_task, signer

if TYPE_CHECKING:
    from ..models import QueueItem, QueueItemAttempt

# Item status to Django's; items waiting for parents or paused are still to run, canceled
# ones did not succeed.
STATUS = {
    "waiting": TaskResultStatus.READY,
    "queued": TaskResultStatus.READY,
    "paused": TaskResultStatus.READY,
    "running": TaskResultStatus.RUNNING,
    "success": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "canceled": TaskResultStatus.FAILED,
}

# An attempt recorded before error classes were kept (or by hand) still needs a class.
UNKNOWN_EXCEPTION = "django_taskqueue.exceptions.TaskQueueError"


def register_task_handler() -> None:
    # Django tasks have no retries, so one attempt is the default; operators may raise it on
    # the definition row.
    handler(TASK_ALIAS, max_attempts=1, title="Django task")(run_task)
    register_family(f"{TASK_ALIAS}.", TASK_ALIAS)


def _task_error(attempt: QueueItemAttempt) -> TaskError:
    return TaskError(
        exception_class_path=attempt.error_class or UNKNOWN_EXCEPTION,
        traceback=attempt.error,
    )


class TaskQueueBackend(BaseTaskBackend):
    """Stores Django tasks as queue items; ``runqueue`` runs them, the database keeps results."""

    supports_defer = True  # run_after becomes the item's run_at
    supports_async_task = True  # coroutine functions run on the runner's worker threads
    supports_get_result = True  # results live in the database, readable from any process
    supports_priority = True  # Django's -100..100 is stored as is; higher runs first
    task_class = QueueTask  # @task(rate_limit=..., unique_key=...): see queue_tasks.py

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        register_task_handler()

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = list(super().check(**kwargs))
        if not apps.is_installed("django_taskqueue"):
            messages.append(
                checks.Error(
                    f"TASKS[{self.alias!r}] uses TaskQueueBackend, but 'django_taskqueue' is not "
                    "in INSTALLED_APPS, so there are no tables to store tasks in.",
                    hint="Add 'django_taskqueue' to INSTALLED_APPS and run migrate.",
                    obj=self,
                    id="django_taskqueue.E005",
                )
            )
        return messages

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        try:
            validate_name(task.queue_name, "queue name")
            if isinstance(task, QueueTask) and task.definition_options():
                # Its own definition, seeded from its options (which this checks).
                handler(
                    task.alias, max_attempts=1, title=task.module_path, **task.definition_options()
                )(run_task)
        except (InvalidName, InvalidValue) as exc:
            raise InvalidTask(str(exc)) from exc

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        from ..enqueue import enqueue_by_alias

        self.validate_task(task)
        args, kwargs = normalize_json(args), normalize_json(kwargs)
        parameters = {
            "task": signer().sign(task.module_path),
            "backend": self.alias,
            "args": args,
            "kwargs": kwargs,
        }
        if task.run_after is not None:  # kept so that get_result() gives back this very task
            parameters["run_after"] = task.run_after.isoformat()
        item = enqueue_by_alias(
            task_alias(task),
            parameters,
            queue_name=task.queue_name,
            priority=task.priority,
            run_at=task.run_after,
            **item_options(task),
        )
        if item.duplicate:  # its unique key was held: the result is the holder's
            return self._result(item, task)
        result: TaskResult = TaskResult(
            task=task,
            id=str(item.pk),
            status=TaskResultStatus.READY,
            enqueued_at=item.created_at,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        from ..models import QueueItem

        try:
            item = (
                QueueItem.objects.select_related("runner")
                .prefetch_related("attempt_log")
                .get(
                    Q(definition__alias=TASK_ALIAS)
                    | Q(definition__alias__startswith=f"{TASK_ALIAS}."),
                    pk=int(result_id),
                )
            )
        except (QueueItem.DoesNotExist, TypeError, ValueError) as exc:
            raise TaskResultDoesNotExist(result_id) from exc
        try:
            task = load_task(item.parameters.get("task"))
        except (HandlerNotFound, ImportError) as exc:
            raise TaskResultDoesNotExist(f"{result_id}: {exc}") from exc
        return self._result(item, task)

    def _result(self, item: QueueItem, task: Task) -> TaskResult:
        attempts = list(item.attempt_log.all())
        worker_ids = [attempt.runner_name for attempt in attempts]
        if item.status == "running" and item.runner is not None:
            worker_ids.append(str(item.runner))  # the attempt under way, not yet in the log
        status = STATUS[item.status]
        backend = item.parameters.get("backend", self.alias)
        # Operators may have moved or reprioritised the item beyond what Django allows.
        priority = min(max(item.priority, TASK_MIN_PRIORITY), TASK_MAX_PRIORITY)
        valid_queue = not self.queues or item.queue_name in self.queues
        queue_name = item.queue_name if valid_queue else task.queue_name
        run_after = item.parameters.get("run_after")
        task = task.using(
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            run_after=parse_datetime(run_after) if isinstance(run_after, str) else None,
        )
        started = item.started_at if item.status == "running" else None
        result: TaskResult = TaskResult(
            task=task,
            id=str(item.pk),
            status=status,
            enqueued_at=item.created_at,
            # The first attempt's start and the latest's: the claim's time, on the item while
            # an attempt runs and on its attempt row once it has ended.
            started_at=attempts[0].started_at if attempts else started,
            finished_at=item.completed_at if item.status in item.FINISHED_STATUSES else None,
            last_attempted_at=started or (attempts[-1].started_at if attempts else None),
            args=item.parameters.get("args", []),
            kwargs=item.parameters.get("kwargs", {}),
            backend=backend,
            errors=[_task_error(a) for a in attempts if a.outcome != a.Outcome.SUCCESS],
            worker_ids=worker_ids,
        )
        if status == TaskResultStatus.SUCCESSFUL:
            object.__setattr__(result, "_return_value", item.output)
        return result
