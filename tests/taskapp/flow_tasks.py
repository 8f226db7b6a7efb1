"""Django tasks with the queue's flow-control options; import them while ``TASKS`` routes
"default" to our backend (the ``tasks_backend`` fixture), whose task class takes them."""

from __future__ import annotations

from django.tasks import task


@task(rate_limit="5/s", key_concurrency_limit=1)
def limited_sync(customer_id: int) -> int:
    """A task with flow-control options: a definition of its own, seeded with them."""
    return customer_id


@task(unique_key="nightly-cleanup")
def singleton() -> str:
    return "done"
