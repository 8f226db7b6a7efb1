"""Doors from other task APIs into our queue; ``tasks`` serves Django's Tasks framework."""

from __future__ import annotations

import django
from django.conf import settings

TASKS_BACKEND_PATH = "django_taskqueue.backends.tasks.TaskQueueBackend"


def register_configured_backends() -> None:
    """Register the handler behind ``django.tasks`` when ``TASKS`` routes work to us.

    Web processes register it when they create the backend to enqueue; runner processes never
    enqueue, so ``AppConfig.ready()`` calls this to give them the same handler.
    """
    if django.VERSION < (6, 0):
        return
    if any(params.get("BACKEND") == TASKS_BACKEND_PATH for params in settings.TASKS.values()):
        from .tasks import register_task_handler

        register_task_handler()
