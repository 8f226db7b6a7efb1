"""System checks: a queue database nothing routes to, a missing alias, bad defaults."""

import pytest
from django.conf import settings
from django.test import override_settings

from django_taskqueue.checks import check_queue_database, check_settings


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_default_setup_passes():
    assert check_queue_database() == [] and check_settings() == []


def test_an_unknown_queue_database_is_an_error():
    with override_settings(TASKQUEUE={"DATABASE": "nope"}):
        assert ids(check_queue_database()) == ["django_taskqueue.E001"]


def test_a_queue_database_without_a_router_is_an_error():
    with override_settings(TASKQUEUE={"DATABASE": "queue"}, DATABASE_ROUTERS=[]):
        (error,) = check_queue_database()
    assert error.id == "django_taskqueue.E003"
    assert "django_taskqueue.routers.TaskQueueRouter" in error.hint


def test_the_shipped_router_satisfies_the_check():
    routers = ["django_taskqueue.routers.TaskQueueRouter"]
    with override_settings(TASKQUEUE={"DATABASE": "queue"}, DATABASE_ROUTERS=routers):
        assert check_queue_database() == []


@pytest.mark.parametrize(
    "defaults",
    [
        {"DEFAULT_MAX_ATTEMPTS": 0},
        {"DEFAULT_RETRY_BACKOFF_SECONDS": -1},
        {"DEFAULT_RETRY_BACKOFF_MAX_SECONDS": float("nan")},
        {"DEFAULT_TIMEOUT_SECONDS": 0},
        {"DEFAULT_QUEUE": "bad queue"},
        {"MAX_PARAMETERS_BYTES": -1},
        {"MAX_OUTPUT_BYTES": "10 MB"},
        {"API_JWT_ALGORITHM": "none"},
        {"API_JWT_ALGORITHM": "RS256"},
        {"HEALTH_MAX_WAIT_SECONDS": -1},
        {"HEALTH_MAX_WAIT_SECONDS": "5m"},
    ],
)
def test_defaults_outside_the_rules_are_errors(defaults):
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, **defaults}):
        assert ids(check_settings()) == ["django_taskqueue.E004"]
