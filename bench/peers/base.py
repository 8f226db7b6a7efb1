"""The adapter interface every queue under test implements.

An adapter has two sides:
* harness side (setup, single_enqueue, bulk_enqueue, start_worker, count_done,
  latency, teardown): runs in bench/run.py, never imports Django;
* Django side (django_settings, enqueue_noop, enqueue_noop_bulk,
  enqueue_latency): runs inside the peer's Django project, through
  bench/driver.py (enqueues) and bench/manage.py (workers).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from psycopg import sql

BENCH_DIR = Path(__file__).resolve().parent.parent
PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class AdapterError(RuntimeError):
    pass


class Peer:
    name: ClassVar[str]  # CLI name, also BENCH_PEER
    title: ClassVar[str]  # table label
    packages: ClassVar[tuple[str, ...]]  # distributions whose versions are reported
    apps: ClassVar[tuple[str, ...]]  # INSTALLED_APPS beyond contenttypes/auth
    done_sql: ClassVar[str]  # SELECT count(*) of successfully finished tasks
    reset_sql: ClassVar[tuple[str, ...]]  # statements emptying the queue tables
    has_bulk: ClassVar[bool] = False
    enqueue_only: ClassVar[bool] = False  # no worker: drain and latency are not measured
    engine: ClassVar[str] = "postgresql"
    notes: ClassVar[str] = ""  # settings worth recording in the report

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._conn: psycopg.Connection[Any] | sqlite3.Connection | None = None

    # ---- Django side -------------------------------------------------
    @property
    def db_name(self) -> str:
        return "bench_" + self.name.replace("-", "_")

    def database(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.db_name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }

    def django_settings(self) -> dict[str, Any]:
        return {}

    def enqueue_noop(self) -> None:
        raise NotImplementedError

    def enqueue_noop_bulk(self, n: int) -> None:
        raise NotImplementedError

    def enqueue_latency(self, key: str) -> None:
        raise NotImplementedError

    def worker_argv(self, concurrency: int) -> list[str]:
        raise NotImplementedError

    # ---- harness side ------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BENCH_PEER": self.name,
            "BENCH_WORKDIR": str(self.workdir),
            "BENCH_LATENCY_FILE": str(self.workdir / f"latency-{self.name}.log"),
            "DJANGO_SETTINGS_MODULE": "bench.benchsite.settings",
            "PYTHONUNBUFFERED": "1",
        }

    def manage(self, *args: str, timeout: float = 300) -> str:
        return self._run([sys.executable, str(BENCH_DIR / "manage.py"), *args], timeout)

    def driver(self, *args: str, timeout: float = 300) -> dict[str, Any]:
        out = self._run([sys.executable, str(BENCH_DIR / "driver.py"), *args], timeout)
        return json.loads(out.strip().splitlines()[-1])

    def _run(self, argv: list[str], timeout: float) -> str:
        try:
            done = subprocess.run(
                argv, env=self.env(), capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise AdapterError(f"timed out after {timeout}s: {' '.join(argv[1:])}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
            raise AdapterError(f"{' '.join(argv[1:])} failed:\n  " + "\n  ".join(tail))
        return done.stdout

    def setup(self) -> None:
        self.close()
        if self.engine == "postgresql":
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                name = sql.Identifier(self.db_name)
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
                conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        else:
            Path(self.database()["NAME"]).unlink(missing_ok=True)
        self.manage("migrate", "--verbosity", "0")

    def teardown(self) -> None:
        self.close()
        if self.engine == "postgresql":
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.db_name)
                    )
                )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _execute(self, statement: str) -> Any:
        if self._conn is None:
            if self.engine == "postgresql":
                dsn = PG_DSN.rsplit("/", 1)[0] + "/" + self.db_name
                self._conn = psycopg.connect(dsn, autocommit=True)
            else:
                path = self.database()["NAME"]
                self._conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        cursor = self._conn.execute(statement)  # type: ignore[arg-type]
        row = cursor.fetchone() if cursor.description else None
        return row[0] if row else None

    def count_done(self) -> int:
        return int(self._execute(self.done_sql))

    def reset(self) -> None:
        for statement in self.reset_sql:
            self._execute(statement)

    def single_enqueue(self, n: int) -> dict[str, Any]:
        """n enqueues, each in its own transaction (like n requests)."""
        return self.driver("single", str(n))

    def bulk_enqueue(self, n: int) -> dict[str, Any] | None:
        return self.driver("bulk", str(n)) if self.has_bulk else None

    def fill(self, n: int) -> None:
        """Pre-enqueue n no-op tasks (untimed)."""
        self.driver("bulk" if self.has_bulk else "single", str(n))

    def start_worker(self, concurrency: int) -> subprocess.Popen[bytes]:
        with open(self.workdir / f"worker-{self.name}-c{concurrency}.log", "ab") as log:
            return subprocess.Popen(
                self.worker_argv(concurrency),
                cwd=BENCH_DIR,
                env={**self.env(), "BENCH_CONCURRENCY": str(concurrency)},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # own process group: we kill exactly what we started
            )

    def latency(self, samples: int) -> list[float]:
        """Enqueue-to-start seconds for `samples` tasks; a worker must be running."""
        return self.driver("latency", str(samples), timeout=60 + samples * 15)["samples"]

    def manage_argv(self, *args: str) -> list[str]:
        return [sys.executable, str(BENCH_DIR / "manage.py"), *args]
