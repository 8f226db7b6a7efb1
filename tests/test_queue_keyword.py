"""``queue=`` and ``queue_name=``: one argument with two spellings, at every door."""

from __future__ import annotations

import pytest

from django_taskqueue import TaskQueueError, enqueue_by_alias, enqueue_many, handler
from django_taskqueue.models import QueueItem
from django_taskqueue.registry import get_spec, unregister
from tests.test_api import api, assert_error, post  # noqa: F401 - api is a fixture

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("spelling", ["queue", "queue_name"])
def test_enqueue_by_alias_takes_either_spelling(spelling):
    item = enqueue_by_alias("Record", {}, **{spelling: "emails"})
    assert QueueItem.objects.get(pk=item.pk).queue_name == item.queue_name == "emails"


@pytest.mark.parametrize("spelling", ["queue", "queue_name"])
def test_enqueue_many_takes_either_spelling(spelling):
    ids = enqueue_many("Record", [{}, {}], **{spelling: "emails"})
    assert set(QueueItem.objects.filter(pk__in=ids).values_list("queue_name", flat=True)) == {
        "emails"
    }


def test_both_spellings_naming_one_queue_are_fine():
    assert enqueue_by_alias("Record", queue="emails", queue_name="emails").queue_name == "emails"


@pytest.mark.parametrize("door", [enqueue_by_alias, enqueue_many])
def test_both_spellings_naming_two_queues_are_a_clear_error_and_write_nothing(door):
    args = ("Record", [{}]) if door is enqueue_many else ("Record", {})
    with pytest.raises(TaskQueueError, match="name two different queues") as excinfo:
        door(*args, queue="emails", queue_name="reports")
    assert "queue='emails'" in str(excinfo.value) and "queue_name='reports'" in str(excinfo.value)
    assert not QueueItem.objects.exists()


@pytest.mark.parametrize("spelling", ["queue", "queue_name"])
def test_handler_takes_either_spelling(spelling):
    try:
        handler("SpelledQueue", **{spelling: "reports"})(lambda: None)
        assert get_spec("SpelledQueue").queue == "reports"
        assert enqueue_by_alias("SpelledQueue").queue_name == "reports"
    finally:
        unregister("SpelledQueue")


def test_handler_with_two_different_queues_is_refused():
    with pytest.raises(TaskQueueError, match="name two different queues"):
        handler("Twice", queue="a", queue_name="b")


@pytest.mark.parametrize("field", ["queue", "queue_name"])
def test_the_http_api_takes_either_field(api, field):  # noqa: F811
    response = post(api, "/jobs", {"alias": "Record", field: "emails"})
    assert response.status_code == 201, response.content
    assert response.json()["queue"] == "emails"


def test_the_http_api_refuses_two_different_queues(api):  # noqa: F811
    error = assert_error(
        post(api, "/jobs", {"alias": "Record", "queue": "a", "queue_name": "b"}), 400
    )
    assert "two different queues" in error["message"]
    assert not QueueItem.objects.exists()


@pytest.mark.parametrize("field", ["queue", "queue_name"])
def test_the_http_api_refuses_a_bad_queue_name_under_either_field(api, field):  # noqa: F811
    error = assert_error(post(api, "/jobs", {"alias": "Record", field: "no spaces"}), 400)
    assert "queue name" in error["message"].lower()
    assert not QueueItem.objects.exists()
