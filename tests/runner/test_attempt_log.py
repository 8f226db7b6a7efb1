"""The runner's log record per attempt: the level an operator acts on, facts as fields."""

from __future__ import annotations

import json
import logging
import re

import pytest

from django_taskqueue import enqueue_by_alias
from tests.conftest import drain

pytestmark = pytest.mark.django_db(transaction=True)

FACTS = ("item_id", "alias", "queue", "attempt", "max_attempts", "outcome", "duration_ms")


def attempt_records(caplog, item_id: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "item_id", None) == item_id]


def test_a_success_is_info_with_its_facts_as_fields(caplog):
    item = enqueue_by_alias("Record", {"value": 1})
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        drain()
    (record,) = attempt_records(caplog, item.pk)
    assert record.levelname == "INFO" and record.name == "django_taskqueue.runner"
    assert re.fullmatch(rf"Record #{item.pk} attempt 1/1 success in \d+\.\d ms", record.message)
    assert (record.alias, record.queue, record.attempt, record.max_attempts) == (
        "Record",
        "tests",
        1,
        1,
    )
    assert record.outcome == "success" and record.duration_ms >= 0
    assert record.exc_info is None


def test_a_retry_is_a_warning_and_the_final_failure_an_error_with_its_traceback(caplog):
    item = enqueue_by_alias("AlwaysFails", {})
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        drain()
    retry, final = attempt_records(caplog, item.pk)
    assert retry.levelname == "WARNING"
    assert re.fullmatch(
        rf"AlwaysFails #{item.pk} attempt 1/2 failed in \d+\.\d ms, retry in \d+ ms: "
        "ValueError: this handler always fails",
        retry.message,
    )
    assert retry.exc_info is None and (retry.attempt, retry.outcome) == (1, "retry")
    assert final.levelname == "ERROR"
    assert re.fullmatch(
        rf"AlwaysFails #{item.pk} attempt 2/2 failed in \d+\.\d ms, no attempts left: "
        "ValueError: this handler always fails",
        final.message,
    )
    assert final.exc_info[0] is ValueError
    assert "always_fails" in logging.Formatter().formatException(final.exc_info)
    assert (final.attempt, final.outcome) == (2, "failed")


def test_a_failure_retrying_cannot_help_says_it_is_not_retried(caplog):
    item = enqueue_by_alias("ReturnsUnstorable", {"kind": "object"})  # max_attempts=3
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        drain(queues=("poison",))
    (record,) = attempt_records(caplog, item.pk)
    assert record.levelname == "ERROR"
    assert "attempt 1/3 failed" in record.message and "not retried" in record.message
    assert "UnstorableOutput" in record.message


def test_unencodable_text_in_an_error_does_not_break_the_log_stream(caplog):
    item = enqueue_by_alias("RaisesUnstorable", {"kind": "surrogate"})
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        drain(queues=("poison",))
    (record,) = attempt_records(caplog, item.pk)
    record.message.encode("utf-8")  # what a stream handler does; it must not raise
    assert record.exc_info is None


def test_the_documented_json_formatter_turns_the_facts_into_fields(caplog):
    """The formatter in docs/runners.md, run on a real record."""
    from tests.test_docs import python_block_defining

    namespace: dict[str, object] = {}
    exec(python_block_defining("class JsonFormatter"), namespace)  # noqa: S102
    formatter = namespace["JsonFormatter"]()
    item = enqueue_by_alias("AlwaysFails", {})
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        drain()
    final = attempt_records(caplog, item.pk)[-1]
    document = json.loads(formatter.format(final))
    assert {key: document[key] for key in FACTS[:5]} == {
        "item_id": item.pk,
        "alias": "AlwaysFails",
        "queue": "tests",
        "attempt": 2,
        "max_attempts": 2,
    }
    assert document["level"] == "ERROR" and "ValueError" in document["exception"]
