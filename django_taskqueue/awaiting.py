"""Blocking until an item or a workflow is finished: ``item.wait()``, ``workflow.wait()``.

On PostgreSQL the store tells of finished items and workflows on a channel
(``FINISHED_CHANNEL``) at the commit that finished them, so a waiter listening there wakes
at once; it still looks at its row every ``poll_seconds``, in case a notification was missed.
On SQLite, and with ``USE_LISTEN_NOTIFY`` off, it polls.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any, Protocol

from django.db import connections

from .conf import app_settings
from .exceptions import TaskQueueError

logger = logging.getLogger("django_taskqueue")


class Finishable(Protocol):
    pk: Any
    status: str
    _state: Any

    @property
    def is_finished(self) -> bool: ...
    def refresh_from_db(self) -> None: ...


def wait_until_finished(
    instance: Finishable, token: str, timeout: float | None, poll_seconds: float
) -> None:
    """Refresh ``instance`` until it is finished; ``TimeoutError`` after ``timeout`` s."""
    using = instance._state.db or "default"
    if connections[using].in_atomic_block:
        raise TaskQueueError(
            f"Cannot wait for {instance} inside a transaction: the runner's outcome is "
            "committed elsewhere, and waiting would hold this transaction open. Wait after "
            "the atomic() block."
        )
    deadline = None if timeout is None else time.monotonic() + timeout
    poll_seconds = max(poll_seconds, 0.01)
    with _listener(using) as listen:
        while True:
            instance.refresh_from_db()
            if instance.is_finished:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"{instance} is still {instance.status} after {timeout:g} s.")
            pause = poll_seconds if remaining is None else min(poll_seconds, remaining)
            if listen is None:
                time.sleep(pause)
            else:
                listen(token, pause)


@contextlib.contextmanager
def _listener(using: str) -> Iterator[Any]:
    """A function ``(token, seconds)`` that returns when ``token`` is told or the time is
    up, or None where nothing can tell (SQLite, no LISTEN/NOTIFY, no connection)."""
    if connections[using].vendor != "postgresql" or not app_settings.USE_LISTEN_NOTIFY:
        yield None
        return
    import psycopg

    from .store.postgres import FINISHED_CHANNEL, listen_conninfo

    try:
        connection = psycopg.connect(**listen_conninfo(using), autocommit=True)
        connection.execute(f"LISTEN {FINISHED_CHANNEL}")
    except psycopg.Error as exc:
        logger.info("Cannot LISTEN for finished items (%s); polling instead", exc)
        yield None
        return

    def listen(token: str, seconds: float) -> None:
        try:
            for note in connection.notifies(timeout=seconds):
                if token in note.payload.split(" "):
                    return
        except psycopg.Error:  # the connection dropped: the row is looked at in any case
            time.sleep(seconds)

    try:
        yield listen
    finally:
        connection.close()
