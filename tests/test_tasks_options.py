"""The Tasks backend takes the flow-control options through its task class: ``@task(...)``
and ``.using(...)``, as Django passes extra task options to ``task_class``."""

from __future__ import annotations

import django
import pytest

from django_taskqueue.models import QueueItem, TaskDefinition
from tests.conftest import drain

if django.VERSION < (6, 0):
    pytest.skip("django.tasks exists from Django 6.0 on", allow_module_level=True)

from django.tasks import TaskResultStatus, task  # noqa: E402
from django.tasks.exceptions import InvalidTask  # noqa: E402

from django_taskqueue.backends.queue_tasks import QueueTask, own_alias  # noqa: E402
from django_taskqueue.registry import resolve_handler, unregister  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def flow_tasks(tasks_backend):
    from tests.taskapp import flow_tasks

    return flow_tasks


def test_a_task_with_limits_gets_a_definition_of_its_own_seeded_with_them(flow_tasks):
    assert isinstance(flow_tasks.limited_sync, QueueTask)
    result = flow_tasks.limited_sync.using(concurrency_key="customer:42").enqueue(42)
    item = QueueItem.objects.select_related("definition").get(pk=int(result.id))
    assert item.definition.alias == own_alias("tests.taskapp.flow_tasks.limited_sync")
    assert (item.definition.rate_limit, item.definition.key_concurrency_limit) == ("5/s", 1)
    assert item.concurrency_key == "customer:42"
    drain(queues=("default",))
    done = flow_tasks.limited_sync.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL and done.return_value == 42


def test_a_task_without_options_keeps_the_shared_definition(tasks_backend):
    from tests.taskapp import django_tasks

    result = django_tasks.add.enqueue(1, 2)
    assert QueueItem.objects.get(pk=int(result.id)).definition.alias == "django.tasks"


def test_a_unique_key_returns_the_waiting_result_instead_of_a_second_item(flow_tasks):
    first = flow_tasks.singleton.enqueue()
    second = flow_tasks.singleton.enqueue()
    assert second.id == first.id
    assert QueueItem.objects.count() == 1
    other = flow_tasks.singleton.using(unique_key="another").enqueue()
    assert other.id != first.id


def test_a_runner_that_never_imported_a_task_still_runs_its_definition(flow_tasks):
    alias = own_alias("tests.taskapp.flow_tasks.limited_sync")
    unregister(alias)
    assert resolve_handler(alias) is resolve_handler("django.tasks")


@pytest.mark.parametrize(
    "options",
    [{"rate_limit": "fast"}, {"concurrency_limit": 0}, {"key_rate_limit": "1/y"}],
)
def test_a_bad_option_is_an_invalid_task_at_decoration(tasks_backend, options):
    with pytest.raises(InvalidTask):

        @task(**options)
        def broken() -> None: ...


def test_operators_edits_win_over_the_decorator(flow_tasks):
    flow_tasks.limited_sync.enqueue(1)
    alias = own_alias("tests.taskapp.flow_tasks.limited_sync")
    TaskDefinition.objects.filter(alias=alias).update(rate_limit="1/s")
    flow_tasks.limited_sync.enqueue(2)
    assert TaskDefinition.objects.get(alias=alias).rate_limit == "1/s"
