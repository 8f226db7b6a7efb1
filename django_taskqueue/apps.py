from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class TaskQueueConfig(AppConfig):
    name = "django_taskqueue"
    verbose_name = "Task queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks

        # Handlers register themselves when their app's tasks.py is imported.
        autodiscover_modules("tasks")
        # Runner processes never create the django.tasks backend, yet must run its work.
        from .backends import register_configured_backends

        register_configured_backends()
        # Finishing an item may enqueue its webhook's delivery, in any process.
        from .webhooks.delivery import register_delivery_handler

        register_delivery_handler()
        from .store import import_store

        import_store()
