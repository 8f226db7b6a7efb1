"""Waiting out a database that cannot be reached: log once, back off, log when it is back."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

from ..store import OUTAGE_ERRORS
from ..store.deadlocks import is_deadlock

logger = logging.getLogger("django_taskqueue.runner")
T = TypeVar("T")
DEADLOCK_PAUSE_SECONDS = 0.05


class OutageBackoff:
    def __init__(self, using: str, stopping: threading.Event) -> None:
        self.using = using
        self._stopping = stopping
        self._down_since: float | None = None

    def down(self, exc: Exception) -> None:
        """The database failed us: drop broken connections and wait, longer each time (up to
        30 s), or until the runner is asked to stop. A lost deadlock is no outage: a moment's
        pause, and the same connection tries again."""
        if is_deadlock(exc):  # the database is there: it aborted this transaction, not us
            logger.info("Lost a deadlock (%s); trying again", exc)
            self._stopping.wait(DEADLOCK_PAUSE_SECONDS)
            return
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            logger.warning("Database unavailable (%s); retrying with backoff", exc)
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        connections[self.using].close()
        backoff = min(0.5 * 2 ** min((now - self._down_since) // 2, 6), 30)
        self._stopping.wait(backoff)

    def back(self) -> None:
        if self._down_since is not None:
            logger.warning(
                "Database reachable again after %.1f s", time.monotonic() - self._down_since
            )
            self._down_since = None

    def retrying(self, action: Callable[[], T], deadline_seconds: float = 60.0) -> T:
        """``action()``, retried through outages for up to ``deadline_seconds``."""
        give_up = time.monotonic() + deadline_seconds
        while True:
            try:
                result = action()
            except OUTAGE_ERRORS as exc:
                if time.monotonic() > give_up:
                    raise
                self.down(exc)
            else:
                self.back()
                return result
