"""Shared fixtures: real runner processes against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection, connections

from django_taskqueue.models import QueueItem
from django_taskqueue.runner import QueueRunner

ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header(config: pytest.Config) -> str:
    return f"DATABASE_URL={os.environ.get('DATABASE_URL', '(default SQLite file)')}"


def database_url(alias: str = "default") -> str:
    """A database URL that points a child process at the test database of ``alias``."""
    settings = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return f"sqlite:///{Path(settings['NAME']).resolve()}"
    auth = quote(settings["USER"] or "")
    if settings.get("PASSWORD"):
        auth += ":" + quote(settings["PASSWORD"])
    return f"postgres://{auth}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, step: float = 0.05) -> object:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def drain(queues=("tests",), rounds: int = 50, **kwargs) -> None:
    """Burst-run until no item is queued or running (retries wait out their backoff)."""
    kwargs.setdefault("interval", 0.05)
    for _ in range(rounds):
        QueueRunner(list(queues), burst=True, **kwargs).run()
        if not QueueItem.objects.filter(status__in=["queued", "running"]).exists():
            return
        time.sleep(0.1)
    raise AssertionError("queue did not drain")


def taskqueue_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py taskqueue ARGS`` as a real process, its output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "taskqueue", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class RunnerProcess:
    """A ``manage.py runqueue`` child process in its own session, so signals reach only it."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "runqueue", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signum)

    def wait(self, timeout: float = 60.0) -> int:
        """The exit code; a runner still alive after ``timeout`` fails the test with its log
        and, through faulthandler, a traceback of every thread showing where it hangs."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGABRT)
            self.popen.wait(timeout=10)
            raise AssertionError(
                f"runner still running after {timeout} s:\n{self.output()}"
            ) from None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self._log.close()


@pytest.fixture
def runner_env() -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env["DATABASE_URL"] = database_url()
    if "listen" in connections:  # through PgBouncer: LISTEN straight to the server
        env["LISTEN_DATABASE_URL"] = database_url("listen")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT from RunnerProcess.wait dumps every thread
    return env


@pytest.fixture
def start_runner(
    runner_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., RunnerProcess]]:
    """Start ``runqueue`` with the given arguments; every runner is killed at teardown."""
    started: list[RunnerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> RunnerProcess:
        log = tmp_path / f"runner-{len(started)}.log"
        process = RunnerProcess(list(args), {**runner_env, **(env or {})}, log)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture(scope="session", autouse=True)
def _pooler_lets_go_of_the_test_database(django_db_setup: object) -> Iterator[None]:
    """Through PgBouncer, its idle server connections to the test database would keep
    Django from dropping it: they are closed (KILL, then RESUME) before the teardown."""
    yield
    admin = os.environ.get("TASKQUEUE_TEST_PGBOUNCER_ADMIN")
    if not admin:
        return
    import psycopg

    names = {str(connections[alias].settings_dict["NAME"]) for alias in connections}
    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as console:
        for name in sorted(names):
            for command in ("KILL", "RESUME"):
                with contextlib.suppress(psycopg.Error):  # a database it never pooled
                    console.execute(f"{command} {name}", prepare=False)


@pytest.fixture(scope="session", autouse=True)
def _database_is_the_one_asked_for(django_db_blocker: object) -> None:
    """Under ``make test-postgres`` a missing PostgreSQL must fail the run, never skip it."""
    if os.environ.get("TASKQUEUE_REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        pytest.exit("TASKQUEUE_REQUIRE_POSTGRES is set but the database is not PostgreSQL", 2)


@pytest.fixture
def tasks_backend():
    """``TASKS`` routed to our backend for one test (Django 6.0+); its handler is unregistered
    afterwards."""
    from django.tasks import task_backends
    from django.test import override_settings

    from django_taskqueue.backends.tasks import TASK_ALIAS
    from django_taskqueue.registry import unregister
    from tests.django_tasks_settings import TASKS

    with override_settings(TASKS=TASKS):
        yield task_backends["default"]
    unregister(TASK_ALIAS)
