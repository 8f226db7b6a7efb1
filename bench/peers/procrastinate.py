"""Procrastinate 3.x via procrastinate.contrib.django; LISTEN/NOTIFY worker."""

from __future__ import annotations

from typing import ClassVar

from bench.peers.base import Peer


class Procrastinate(Peer):
    name = "procrastinate"
    title = "Procrastinate"
    packages = ("procrastinate", "Django", "psycopg")
    apps = ("procrastinate.contrib.django", "bench.apps.procrastinate_app")
    done_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
    reset_sql = ("TRUNCATE procrastinate_jobs, procrastinate_events CASCADE",)
    has_bulk = True
    notes: ClassVar[str] = (
        "`manage.py procrastinate worker --queues bench --concurrency C`; defaults otherwise: "
        "listen_notify on, fetch_job_polling_interval 5 s, delete_jobs never; "
        "enqueue via the Django connector (Django's connection), worker via PsycopgConnector"
    )

    def enqueue_noop(self) -> None:
        from bench.apps.procrastinate_app.tasks import noop

        noop.defer()

    def enqueue_noop_bulk(self, n: int) -> None:
        from bench.apps.procrastinate_app.tasks import noop

        noop.batch_defer(*({} for _ in range(n)))

    def enqueue_latency(self, key: str) -> None:
        from bench.apps.procrastinate_app.tasks import latency

        latency.defer(key=key)

    def worker_argv(self, concurrency: int) -> list[str]:
        return self.manage_argv(
            "procrastinate", "worker", "--queues", "bench", "--concurrency", str(concurrency)
        )
