from django.apps import AppConfig


class TaskqueueBenchConfig(AppConfig):
    name = "bench.apps.taskqueue_app"
    label = "taskqueue_bench"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the handlers)
