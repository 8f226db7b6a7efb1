"""The outcome buffer: what workers produced, waiting to be written in the next batch.

Writing outcomes one by one would cost a commit (an fsync) each; the runner writes them with
its next claim instead, in one transaction, as soon as the batch is full, old enough, or the
last item in flight has finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..conf import app_settings
from ..store import Outcome


class OutcomeBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: list[Outcome] = []
        self._oldest = 0.0  # monotonic time the oldest waiting outcome arrived

    def __len__(self) -> int:
        return len(self._outcomes)

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            if not self._outcomes:
                self._oldest = time.monotonic()
            self._outcomes.append(outcome)

    def flush_due(self, items_in_flight: bool) -> bool:
        """Full, or old enough (``COMPLETION_FLUSH_SIZE``/``_SECONDS``), or nothing else is
        coming (no item in flight)."""
        if not self._outcomes:
            return False
        age = time.monotonic() - self._oldest
        return (
            len(self._outcomes) >= app_settings.COMPLETION_FLUSH_SIZE
            or age >= app_settings.COMPLETION_FLUSH_SECONDS
            or not items_in_flight
        )

    def seconds_until_due(self) -> float | None:
        if not self._outcomes:
            return None
        due = self._oldest + app_settings.COMPLETION_FLUSH_SECONDS
        return max(due - time.monotonic(), 0.0)

    @contextmanager
    def taking(self, take: bool = True) -> Iterator[list[Outcome]]:
        """Hand out the waiting outcomes (none unless ``take``); put back the ones still in
        the list if writing them fails.

        Putting them back is safe: each write is guarded by status and holder, so a retry of an
        outcome that did land changes nothing. A writer removes what it wrote from the list.
        """
        with self._lock:
            outcomes, self._outcomes = (self._outcomes, []) if take else ([], self._outcomes)
        try:
            yield outcomes
        except BaseException:
            with self._lock:
                if outcomes and not self._outcomes:
                    self._oldest = time.monotonic()
                self._outcomes[:0] = outcomes
            raise
