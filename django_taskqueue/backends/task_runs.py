"""Running a Django task on a runner: the handler behind the internal ``django.tasks`` alias.

The item's parameters name the task by a signed module path (see ``tasks.py``); the handler
imports it, announces the attempt with ``task_started``, calls it, and announces the end with
``task_finished``, as Django's own backends do, so the ``django.tasks`` logger and any receiver
see every attempt. A failed attempt is announced as ``FAILED`` even when the queue will retry
it, since that attempt did fail. Receivers are called robustly: one that raises is logged by
Django (``django.dispatch``) and changes nothing about the task.
"""

from __future__ import annotations

import traceback
from dataclasses import replace
from typing import Any

from django.core.signing import BadSignature, Signer
from django.tasks import Task, TaskContext, TaskResultStatus, task_backends
from django.tasks.base import TaskError
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from ..exceptions import HandlerNotFound, Snooze


def signer() -> Signer:
    return Signer(salt="django_taskqueue.backends.tasks")


def load_task(signed_path: str) -> Task:
    """The ``Task`` a signed module path names; never imports an unsigned path.

    A signed path that no longer imports (the task was renamed or its module deleted since it
    was enqueued) raises the ``ImportError`` itself, so the item's error says what is missing.
    """
    try:
        path = signer().unsign(signed_path)
    except (BadSignature, TypeError) as exc:
        raise HandlerNotFound(
            f"Refusing to import {signed_path!r}: it was not signed by TaskQueueBackend with this "
            "project's SECRET_KEY, so it did not come from Task.enqueue()."
        ) from exc
    candidate = import_string(path)
    if not isinstance(candidate, Task):
        raise HandlerNotFound(f"{path!r} is not a django.tasks Task.")
    return candidate


def run_task(
    task: str,
    backend: str,
    args: list[Any],
    kwargs: dict[str, Any],
    run_after: str | None = None,  # read by get_result(); the item's run_at did the deferring
) -> Any:
    """Runs a task enqueued through Django's Tasks framework (django.tasks)."""
    from ..context import current_task  # the runner's modules need the app's models
    from ..store.records import class_path

    django_task = load_task(task)
    context = current_task()
    if context is None:  # called directly, not by a runner: no result to announce
        return normalize_json(django_task.call(*args, **kwargs))
    task_backend = task_backends[backend]
    sender = type(task_backend)
    result = task_backend.get_result(str(context.item_id))
    task_started.send_robust(sender, task_result=result)
    try:
        if django_task.takes_context:
            value = django_task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = django_task.call(*args, **kwargs)
        value = normalize_json(value)
    except Snooze:
        raise  # not finished: the item waits again, and its next run is announced then
    except BaseException as exc:
        error = TaskError(
            exception_class_path=class_path(type(exc)),
            traceback="".join(traceback.format_exception(exc)),
        )
        failed = replace(
            result,
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            errors=[*result.errors, error],
        )
        # Inside the except, so receivers (Django's logger among them) see exc_info.
        task_finished.send_robust(sender, task_result=failed)
        raise
    finished = replace(result, status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now())
    object.__setattr__(finished, "_return_value", value)
    task_finished.send_robust(sender, task_result=finished)
    return value
