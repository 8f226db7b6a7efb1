"""Test settings with Django's Tasks framework routed to our backend (Django 6.0+).

Runner processes started by the backend's tests use this module, so they see the same ``TASKS``
as the test process does under ``override_settings``.
"""

from tests.settings import *  # noqa: F403

TASKS = {
    "default": {
        "BACKEND": "django_taskqueue.backends.tasks.TaskQueueBackend",
        "QUEUES": ["default", "emails"],
    }
}
