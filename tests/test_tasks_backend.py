"""Django's Tasks framework through ``TaskQueueBackend``: enqueue, run, read results back."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

import django
import pytest
from asgiref.sync import sync_to_async
from django.core import mail
from django.db import connections
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, TaskDefinition
from django_taskqueue.runner import QueueRunner
from tests.conftest import ROOT, drain, wait_for

HAS_DJANGO_TASKS = django.VERSION >= (6, 0)
needs_django_tasks = pytest.mark.skipif(
    not HAS_DJANGO_TASKS, reason="django.tasks exists from Django 6.0 on"
)

if HAS_DJANGO_TASKS:
    from django.tasks import TaskResultStatus
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch

    from django_taskqueue.backends.task_runs import signer
    from django_taskqueue.backends.tasks import TASK_ALIAS, TaskQueueBackend
    from tests.taskapp import django_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def run_all() -> None:
    drain(queues=("default", "emails"))


def test_importing_the_backend_without_django_tasks_explains_it_needs_django_6():
    # On Django 5.2 django.tasks is really missing; on 6.x the child process hides it.
    code = (
        "import sys; sys.modules['django.tasks'] = None\n"
        "import django; django.setup()\n"
        "import django_taskqueue.backends.tasks\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 1
    assert "ImproperlyConfigured" in child.stderr
    assert "requires Django 6.0+" in child.stderr
    assert "enqueue_by_alias" in child.stderr


@needs_django_tasks
def test_backend_declares_what_it_supports(tasks_backend):
    assert isinstance(tasks_backend, TaskQueueBackend)
    assert tasks_backend.supports_defer
    assert tasks_backend.supports_async_task
    assert tasks_backend.supports_get_result
    assert tasks_backend.supports_priority


@needs_django_tasks
def test_enqueue_stores_one_ready_item_and_get_result_reads_it_back(tasks_backend):
    result = django_tasks.add.enqueue(2, b=3)
    assert result.status == TaskResultStatus.READY
    assert result.backend == "default"
    item = QueueItem.objects.get(pk=int(result.id))
    assert item.definition.alias == TASK_ALIAS
    assert (item.queue_name, item.priority, item.status) == ("default", 0, "queued")
    assert item.parameters["args"] == [2] and item.parameters["kwargs"] == {"b": 3}
    assert signer().unsign(item.parameters["task"]) == "tests.taskapp.django_tasks.add"

    fetched = tasks_backend.get_result(result.id)
    assert fetched.status == TaskResultStatus.READY
    assert (fetched.args, fetched.kwargs) == ([2], {"b": 3})
    assert fetched.task.func is django_tasks.add.func
    assert fetched.enqueued_at == item.created_at
    assert fetched.worker_ids == [] and fetched.errors == []
    assert django_tasks.add.get_result(result.id).id == result.id
    with pytest.raises(TaskResultMismatch):
        django_tasks.fails.get_result(result.id)


@needs_django_tasks
def test_aenqueue_and_aget_result(tasks_backend):
    async def enqueue_and_read():
        result = await django_tasks.add.aenqueue(4, 5)
        fetched = await django_tasks.add.aget_result(result.id)
        await sync_to_async(connections.close_all)()  # the executor thread's connection
        return result, fetched

    result, fetched = asyncio.run(enqueue_and_read())
    assert fetched.id == result.id
    assert (fetched.status, fetched.args) == (TaskResultStatus.READY, [4, 5])


@needs_django_tasks
def test_priority_queue_name_and_run_after_reach_the_item(tasks_backend):
    later = timezone.now() + timedelta(hours=1)
    result = django_tasks.add.using(priority=50, queue_name="emails", run_after=later).enqueue(1, 1)
    item = QueueItem.objects.get(pk=int(result.id))
    assert (item.priority, item.queue_name, item.run_at) == (50, "emails", later)
    QueueRunner(["emails"], burst=True, interval=0.05).run()
    assert tasks_backend.get_result(result.id).status == TaskResultStatus.READY  # not yet due


@needs_django_tasks
def test_higher_priority_runs_first(tasks_backend):
    low = django_tasks.add.using(priority=-100).enqueue(0, 1)
    high = django_tasks.add.using(priority=100).enqueue(0, 2)
    drain(queues=("default",), concurrency=1)
    low.refresh()
    high.refresh()
    assert high.started_at < low.started_at


@needs_django_tasks
def test_queue_names_outside_the_configured_queues_are_refused(tasks_backend):
    with pytest.raises(InvalidTask, match="Queue 'reports' is not valid"):
        django_tasks.add.using(queue_name="reports")
    with pytest.raises(InvalidTask, match="priority"):
        django_tasks.add.using(priority=101)
    assert not QueueItem.objects.exists()


@needs_django_tasks
def test_docs_email_example_runs_and_its_result_comes_back(tasks_backend):
    result = django_tasks.email_users.enqueue(
        emails=["user@example.com"], subject="You have a message", message="Hello there!"
    )
    run_all()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 1
    assert result.is_finished and result.attempts == 1
    assert result.started_at <= result.finished_at
    assert [m.subject for m in mail.outbox] == ["You have a message"]


@needs_django_tasks
def test_return_values_come_back_as_json(tasks_backend):
    pair = django_tasks.pair.enqueue("a", {"b": [1, 2]})
    coroutine = django_tasks.async_add.enqueue(20, 22)
    run_all()
    assert tasks_backend.get_result(pair.id).return_value == ["a", {"b": [1, 2]}]
    assert tasks_backend.get_result(coroutine.id).return_value == 42


@needs_django_tasks
def test_failures_carry_the_exception_class_and_traceback(tasks_backend):
    value_error = django_tasks.fails.enqueue("bad input")
    own_error = django_tasks.booms.enqueue()
    run_all()
    value_error.refresh()
    assert value_error.status == TaskResultStatus.FAILED
    (error,) = value_error.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "bad input" in error.traceback and "Traceback" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = value_error.return_value
    own = tasks_backend.get_result(own_error.id)
    assert own.errors[0].exception_class is django_tasks.TaskBoom


@needs_django_tasks
def test_takes_context_sees_its_own_running_result(tasks_backend):
    result = django_tasks.describe_context.enqueue()
    run_all()
    result.refresh()
    seen = result.return_value
    assert seen["id"] == result.id and seen["attempt"] == 1
    assert seen["status"] == TaskResultStatus.RUNNING
    assert seen["worker_ids"] == result.worker_ids  # the runner that ran it, host:pid


@needs_django_tasks
def test_operators_can_grant_retries_and_every_attempt_is_reported(tasks_backend):
    first = django_tasks.add.enqueue(1, 1)
    definition = TaskDefinition.objects.get(alias=TASK_ALIAS)
    assert definition.max_attempts == 1  # Django tasks do not retry unless operators say so
    definition.max_attempts = 2
    definition.save()
    result = django_tasks.succeeds_on_second_attempt.enqueue()
    run_all()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2 and result.attempts == 2
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"]
    assert tasks_backend.get_result(first.id).return_value == 2


@needs_django_tasks
def test_canceled_items_read_as_failed(tasks_backend):
    result = django_tasks.add.enqueue(1, 2)
    QueueItem.objects.get(pk=int(result.id)).cancel()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED and result.finished_at is not None


@needs_django_tasks
def test_get_result_of_unknown_or_foreign_ids_does_not_exist(tasks_backend):
    other = enqueue_by_alias("Record", {})
    for result_id in ("12345678", "not-a-number", str(other.pk)):
        with pytest.raises(TaskResultDoesNotExist):
            tasks_backend.get_result(result_id)


@needs_django_tasks
def test_the_handler_imports_only_signed_paths_of_real_tasks(tasks_backend):
    django_tasks.add.enqueue(0, 0)  # creates the internal definition
    unsigned = enqueue_by_alias(
        TASK_ALIAS,
        {
            "task": "tests.taskapp.django_tasks.add",
            "backend": "default",
            "args": [1, 2],
            "kwargs": {},
        },
        queue_name="default",
    )
    signed_function = enqueue_by_alias(
        TASK_ALIAS,
        {
            "task": signer().sign("tests.taskapp.django_tasks.not_a_task"),
            "backend": "default",
            "args": [1, 2],
            "kwargs": {},
        },
        queue_name="default",
    )
    run_all()
    unsigned.refresh_from_db()
    signed_function.refresh_from_db()
    assert unsigned.status == signed_function.status == "failed"
    assert "Refusing to import" in unsigned.last_error
    assert "is not a django.tasks Task" in signed_function.last_error
    with pytest.raises(TaskResultDoesNotExist):
        tasks_backend.get_result(str(unsigned.pk))


@needs_django_tasks
def test_a_real_runqueue_process_runs_django_tasks(tasks_backend, start_runner):
    # The runner never creates the backend, so only AppConfig.ready() can give it the handler.
    results = [django_tasks.add.enqueue(n, n) for n in range(3)]
    results.append(django_tasks.async_add.using(queue_name="emails").enqueue(1, 2))
    runner = start_runner(
        "default",
        "emails",
        "--interval",
        "0.1",
        env={"DJANGO_SETTINGS_MODULE": "tests.django_tasks_settings"},
    )

    def all_done() -> bool:
        for result in results:
            result.refresh()
        return all(result.is_finished for result in results)

    wait_for(all_done, timeout=60)
    assert [r.return_value for r in results] == [0, 2, 4, 3], runner.output()
    assert all(r.status == TaskResultStatus.SUCCESSFUL for r in results)


@needs_django_tasks
def test_every_item_status_has_a_django_tasks_status():
    from django_taskqueue.backends.tasks import STATUS

    assert set(STATUS) == set(QueueItem.Status.values)
