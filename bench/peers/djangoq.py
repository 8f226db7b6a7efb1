"""django-q2 with the ORM broker (Q_CLUSTER["orm"] = "default")."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from bench.peers.base import Peer


class DjangoQ(Peer):
    name = "djangoq"
    title = "django-q2 (ORM)"
    packages = ("django-q2", "Django", "psycopg")
    apps = ("django_q", "bench.apps.djangoq_app")
    done_sql = "SELECT count(*) FROM django_q_task WHERE success"
    reset_sql = ("TRUNCATE django_q_ormq, django_q_task CASCADE",)
    notes: ClassVar[str] = (
        "`manage.py qcluster`; Q_CLUSTER = the ORM example from the django-q2 docs "
        "(orm=default, timeout 90, retry 120, queue_limit 50, bulk 10) with workers=C and "
        "save_limit=0 (keep every success row so completion can be counted; default 250 "
        "prunes them); poll 0.2 s (default)"
    )

    def django_settings(self) -> dict[str, Any]:
        return {
            "Q_CLUSTER": {
                "name": "bench",
                "orm": "default",
                "workers": int(os.environ.get("BENCH_CONCURRENCY", "1")),
                "timeout": 90,
                "retry": 120,
                "queue_limit": 50,
                "bulk": 10,
                "save_limit": 0,
            }
        }

    def enqueue_noop(self) -> None:
        from django_q.tasks import async_task

        async_task("bench.apps.djangoq_app.tasks.noop")

    def enqueue_latency(self, key: str) -> None:
        from django_q.tasks import async_task

        async_task("bench.apps.djangoq_app.tasks.latency", key)

    def worker_argv(self, concurrency: int) -> list[str]:
        return self.manage_argv("qcluster")
