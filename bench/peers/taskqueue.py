"""Ours: django_taskqueue (PostgreSQL, and SQLite with WAL)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, ClassVar

from bench.peers.base import Peer

REPO = Path(__file__).resolve().parents[2]


class TaskQueue(Peer):
    name = "taskqueue"
    title = "django-taskqueue (ours, PG)"
    packages = ("django-taskqueue", "Django", "psycopg")
    apps = ("django_taskqueue", "bench.apps.taskqueue_app.apps.TaskqueueBenchConfig")
    done_sql = "SELECT count(*) FROM task_queue WHERE status = 'success'"
    reset_sql = ("TRUNCATE task_queue CASCADE",)
    has_bulk = True
    notes: ClassVar[str] = "`manage.py runqueue bench --concurrency C`"

    def enqueue_noop(self) -> None:
        from django_taskqueue import enqueue_by_alias

        enqueue_by_alias("Noop", {})

    def enqueue_noop_bulk(self, n: int) -> None:
        from django_taskqueue import enqueue_many

        enqueue_many("Noop", [{} for _ in range(n)])

    def enqueue_latency(self, key: str) -> None:
        from django_taskqueue import enqueue_by_alias

        enqueue_by_alias("Latency", {"key": key})

    def worker_argv(self, concurrency: int) -> list[str]:
        return self.manage_argv("runqueue", "bench", "--concurrency", str(concurrency))


class TaskQueueSQLite(TaskQueue):
    name = "taskqueue-sqlite"
    title = "django-taskqueue (ours, SQLite WAL)"
    packages = ("django-taskqueue", "Django")
    engine = "sqlite"
    reset_sql = ("DELETE FROM task_queue",)
    notes: ClassVar[str] = (
        "`manage.py runqueue bench --concurrency C`; SQLite file, journal_mode=WAL "
        "(synchronous FULL, the default), transaction_mode IMMEDIATE, timeout 20 s"
    )

    def database(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(self.workdir / "taskqueue.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }


class TaskQueueBaseline(TaskQueue):
    """Ours as it was at ``BENCH_BASELINE_REF`` (a git ref), measured in the same run as the
    working tree, so a change's before and after share the machine's mood."""

    name = "taskqueue-baseline"
    packages = ("Django", "psycopg")

    @property
    def ref(self) -> str:
        return os.environ.get("BENCH_BASELINE_REF", "e9bf8bf")

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"django-taskqueue at {self.ref} (before)"

    @property
    def code_path(self) -> Path:
        return self.workdir / f"baseline-{self.ref}"

    def env(self) -> dict[str, str]:
        return {**super().env(), "BENCH_CODE_PATH": str(self.code_path)}

    def setup(self) -> None:
        """Export the ref's ``django_taskqueue`` package (no checkout, no worktree)."""
        if not self.code_path.exists():
            self.code_path.mkdir(parents=True)
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", self.ref, "django_taskqueue"],
                capture_output=True,
                check=True,
                timeout=60,
            )
            subprocess.run(
                ["tar", "-x", "-C", str(self.code_path)],
                input=archive.stdout,
                check=True,
                timeout=60,
            )
        super().setup()
