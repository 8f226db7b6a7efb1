"""Waiting out the database: retried through outages, logged once each way, bounded."""

import logging
import threading

import pytest
from django.db import OperationalError

from django_taskqueue.runner.outage import OutageBackoff

pytestmark = pytest.mark.django_db  # down() closes the real connections it finds


def flaky(failures: int):
    """A statement whose database is down for the first ``failures`` tries."""
    calls = []

    def action() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise OperationalError("server closed the connection unexpectedly")
        return "done"

    return action, calls


def test_an_outage_is_waited_out_and_logged_once_each_way(caplog, monkeypatch):
    monkeypatch.setattr(OutageBackoff, "down", wrapped_down(OutageBackoff.down))
    backoff = OutageBackoff("default", threading.Event())
    action, calls = flaky(3)
    with caplog.at_level(logging.WARNING, logger="django_taskqueue.runner"):
        assert backoff.retrying(action) == "done"
    assert len(calls) == 4
    assert caplog.text.count("Database unavailable") == 1
    assert caplog.text.count("Database reachable again") == 1


def test_it_gives_up_after_its_deadline(monkeypatch):
    monkeypatch.setattr(OutageBackoff, "down", wrapped_down(OutageBackoff.down))
    action, _ = flaky(10**6)
    with pytest.raises(OperationalError):
        OutageBackoff("default", threading.Event()).retrying(action, deadline_seconds=0.2)


def test_other_errors_are_not_outages():
    def refused() -> None:
        raise ValueError("a bad value, not a dead database")

    with pytest.raises(ValueError):
        OutageBackoff("default", threading.Event()).retrying(refused)


def wrapped_down(down):
    """The real ``down``, with its sleep shortened by a stop that is already requested."""

    def quick(self, exc):
        self._stopping.set()  # Event.wait returns at once; the logging and closing still run
        try:
            down(self, exc)
        finally:
            self._stopping.clear()

    return quick


def test_a_lost_deadlock_is_retried_at_once_and_not_called_an_outage(caplog):
    class DeadlockDetected(Exception):
        sqlstate = "40P01"  # as psycopg's error carries it

    calls = []

    def action() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from DeadlockDetected()
        return "done"

    with caplog.at_level(logging.INFO, logger="django_taskqueue.runner"):
        assert OutageBackoff("default", threading.Event()).retrying(action) == "done"
    assert "Lost a deadlock" in caplog.text and "Database unavailable" not in caplog.text
