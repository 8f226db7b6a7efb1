"""The documented ``django.tasks`` contract, point by point, against ``TaskQueueBackend``.

Django 6.1's reference (ref/tasks, ref/signals) says what a backend owes its callers: signals
for every attempt, the meaning of ``started_at`` and ``last_attempted_at``, results that read
back equal to what ``enqueue()`` returned, the class path of whatever was raised, and a system
check for a backend that cannot work.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from datetime import timedelta

import django
import pytest
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, TaskDefinition
from tests.conftest import ROOT

if django.VERSION < (6, 0):
    pytest.skip("django.tasks exists from Django 6.0 on", allow_module_level=True)

from django.tasks import TaskResultStatus
from django.tasks.signals import task_finished, task_started

from django_taskqueue.backends.task_runs import signer
from django_taskqueue.backends.tasks import TASK_ALIAS, TaskQueueBackend
from tests.taskapp import django_tasks
from tests.taskapp.errors.payments import PaymentDeclined
from tests.test_tasks_backend import run_all

pytestmark = pytest.mark.django_db(transaction=True)


class Announcements:
    """Every ``task_started`` and ``task_finished`` sent, from whichever worker thread."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, type, object, bool]] = []
        self._lock = threading.Lock()

    def started(self, sender, task_result, **kwargs) -> None:
        with self._lock:
            self.sent.append(("started", sender, task_result, sys.exc_info()[0] is not None))

    def finished(self, sender, task_result, **kwargs) -> None:
        with self._lock:
            self.sent.append(("finished", sender, task_result, sys.exc_info()[0] is not None))

    def of(self, result_id: str) -> list[tuple[str, str, bool]]:
        return [(kind, r.status, exc) for kind, _, r, exc in self.sent if r.id == result_id]

    def results(self, result_id: str) -> list[object]:
        return [r for _, _, r, _ in self.sent if r.id == result_id]


@pytest.fixture
def announcements():
    seen = Announcements()
    task_started.connect(seen.started)
    task_finished.connect(seen.finished)
    yield seen
    task_started.disconnect(seen.started)
    task_finished.disconnect(seen.finished)


def test_every_attempt_is_announced_and_djangos_logger_logs_it(
    tasks_backend, announcements, caplog
):
    ok = django_tasks.add.enqueue(1, 2)
    bad = django_tasks.fails.enqueue("no such customer")
    with caplog.at_level(logging.INFO, logger="django.tasks"):
        run_all()
    assert announcements.of(ok.id) == [
        ("started", "RUNNING", False),
        ("finished", "SUCCESSFUL", False),
    ]
    assert announcements.of(bad.id) == [("started", "RUNNING", False), ("finished", "FAILED", True)]
    assert {sender for _, sender, _, _ in announcements.sent} == {TaskQueueBackend}
    finished_ok = announcements.results(ok.id)[-1]
    assert finished_ok.return_value == 3 and finished_ok.finished_at is not None
    finished_bad = announcements.results(bad.id)[-1]
    assert [e.exception_class_path for e in finished_bad.errors] == ["builtins.ValueError"]

    logged = {(r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.tasks"}
    path = "tests.taskapp.django_tasks"
    assert ("INFO", f"Task id={ok.id} path={path}.add state=RUNNING") in logged
    assert ("INFO", f"Task id={ok.id} path={path}.add state=SUCCESSFUL") in logged
    assert ("ERROR", f"Task id={bad.id} path={path}.fails state=FAILED") in logged
    (failure,) = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "django.tasks"]
    assert failure.exc_info and failure.exc_info[0] is ValueError


def test_a_retried_task_is_announced_per_attempt(tasks_backend, announcements):
    django_tasks.add.enqueue(0, 0)  # creates the definition, so operators can grant retries
    TaskDefinition.objects.filter(alias=TASK_ALIAS).update(max_attempts=2, retry_backoff_seconds=0)
    result = django_tasks.succeeds_on_second_attempt.enqueue()
    run_all()
    assert announcements.of(result.id) == [
        ("started", "RUNNING", False),
        ("finished", "FAILED", True),
        ("started", "RUNNING", False),
        ("finished", "SUCCESSFUL", False),
    ]


def test_a_receiver_that_raises_changes_nothing_about_the_task(tasks_backend, caplog):
    def broken(**kwargs):
        raise RuntimeError("receiver bug")

    task_started.connect(broken)
    task_finished.connect(broken)
    try:
        result = django_tasks.add.enqueue(2, 2)
        run_all()
    finally:
        task_started.disconnect(broken)
        task_finished.disconnect(broken)
    result.refresh()
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 4)
    assert any("receiver bug" in str(r.exc_info) for r in caplog.records if r.exc_info)


def test_started_at_is_the_first_attempt_and_last_attempted_at_the_latest(
    tasks_backend, announcements
):
    single = django_tasks.add.enqueue(1, 1)
    run_all()
    running = announcements.results(single.id)[0]
    assert running.status == TaskResultStatus.RUNNING
    assert running.started_at is not None and running.started_at == running.last_attempted_at
    single.refresh()
    assert single.status == TaskResultStatus.SUCCESSFUL
    # Neither moves between RUNNING and the final status.
    assert (single.started_at, single.last_attempted_at) == (
        running.started_at,
        running.last_attempted_at,
    )

    TaskDefinition.objects.filter(alias=TASK_ALIAS).update(max_attempts=2, retry_backoff_seconds=0)
    retried = django_tasks.succeeds_on_second_attempt.enqueue()
    run_all()
    first, _, second, _ = announcements.results(retried.id)
    assert first.started_at == first.last_attempted_at
    assert second.started_at == first.started_at
    assert second.last_attempted_at > first.last_attempted_at
    retried.refresh()
    assert retried.attempts == 2
    assert retried.started_at == first.started_at
    assert retried.last_attempted_at == second.last_attempted_at
    item = QueueItem.objects.get(pk=int(retried.id))
    assert [a.started_at for a in item.attempt_log.all()] == [
        first.started_at,
        second.last_attempted_at,
    ]


def test_get_result_gives_back_the_very_result_enqueue_returned(tasks_backend):
    later = timezone.now() + timedelta(days=2)
    deferred = django_tasks.add.using(run_after=later, priority=7).enqueue(1, b=2)
    immediate = django_tasks.pair.using(queue_name="emails").enqueue("a", ["b"])
    for result in (deferred, immediate):
        assert tasks_backend.get_result(result.id) == result
    assert tasks_backend.get_result(deferred.id).task.run_after == later
    assert tasks_backend.get_result(immediate.id).task.run_after is None


@pytest.mark.parametrize(
    ("task_name", "class_path", "exception_class"),
    [
        ("fails_in_a_task_group", "builtins.ExceptionGroup", ExceptionGroup),
        ("declines", "tests.taskapp.errors.payments.PaymentDeclined", PaymentDeclined),
        ("fails_unprintably", "tests.taskapp.errors.payments.UnprintableError", None),
    ],
)
def test_the_exception_class_path_is_the_class_raised(
    tasks_backend, task_name, class_path, exception_class
):
    result = getattr(django_tasks, task_name).enqueue()
    run_all()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class_path == class_path
    if exception_class is not None:
        assert error.exception_class is exception_class
    assert "Traceback" in error.traceback
    item = QueueItem.objects.get(pk=int(result.id))
    assert item.last_error_class == class_path


@pytest.mark.parametrize(
    ("path", "class_path", "message"),
    [
        ("tests.taskapp.gone.cleanup", "builtins.ModuleNotFoundError", "No module named"),
        ("tests.taskapp.django_tasks.renamed", "builtins.ImportError", "renamed"),
    ],
)
def test_a_task_path_that_no_longer_imports_fails_with_its_import_error(
    tasks_backend, path, class_path, message
):
    django_tasks.add.enqueue(0, 0)  # creates the internal definition
    item = enqueue_by_alias(
        TASK_ALIAS,
        {"task": signer().sign(path), "backend": "default", "args": [], "kwargs": {}},
        queue_name="default",
    )
    run_all()
    item.refresh_from_db()
    assert item.status == "failed"
    assert item.last_error_class == class_path
    assert "Traceback" in item.last_error and message in item.last_error
    (attempt,) = item.attempt_log.all()
    assert attempt.error_class == class_path and message in attempt.error


def test_the_backend_passes_its_check_when_the_app_is_installed(tasks_backend):
    assert tasks_backend.check() == []


def test_a_system_check_fails_when_the_app_is_not_installed():
    code = (
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(\n"
        "    INSTALLED_APPS=['django.contrib.contenttypes', 'django.contrib.auth'],\n"
        "    DATABASES={'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': ':memory:'}},\n"
        "    TASKS={'default': {'BACKEND': 'django_taskqueue.backends.tasks.TaskQueueBackend'}},\n"
        "    SECRET_KEY='check',\n"
        ")\n"
        "django.setup()\n"
        "from django.tasks import task  # as a project's tasks module would\n"
        "from django.core.management import call_command\n"
        "call_command('check')\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 1, child.stderr
    assert "SystemCheckError" in child.stderr
    assert "django_taskqueue.E005" in child.stderr
    assert "'django_taskqueue' is not in INSTALLED_APPS" in child.stderr
