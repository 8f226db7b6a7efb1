from django.tasks import task

from bench.apps.common import record_start


@task(queue_name="bench")
def noop() -> None:
    return None


@task(queue_name="bench")
def latency(key: str) -> None:
    record_start(key)
