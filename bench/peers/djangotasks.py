"""django-tasks-db: the database backend of Django's tasks framework."""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from bench.peers.base import Peer


class DjangoTasks(Peer):
    name = "djangotasks"
    title = "django-tasks-db"
    packages = ("django-tasks-db", "Django", "psycopg")
    apps = ("django_tasks_db", "bench.apps.djangotasks_app")
    done_sql = "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status = 'SUCCESSFUL'"
    reset_sql = ("TRUNCATE django_tasks_database_dbtaskresult CASCADE",)
    notes: ClassVar[str] = (
        "`manage.py db_worker --queue-name bench` (interval 1 s, default); the worker has no "
        "concurrency option, so concurrency C = C worker processes; Django's Task API has no "
        "bulk enqueue"
    )

    def django_settings(self) -> dict[str, Any]:
        return {
            "TASKS": {
                "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["bench"]}
            }
        }

    def enqueue_noop(self) -> None:
        from bench.apps.djangotasks_app.tasks import noop

        noop.enqueue()

    def enqueue_latency(self, key: str) -> None:
        from bench.apps.djangotasks_app.tasks import latency

        latency.enqueue(key=key)

    def worker_argv(self, concurrency: int) -> list[str]:
        one = shlex.join(self.manage_argv("db_worker", "--queue-name", "bench"))
        # one shell as group leader, C worker processes in its tree
        return ["bash", "-c", f"for i in $(seq {concurrency}); do {one} & done; wait"]
