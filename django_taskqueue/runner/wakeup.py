"""Waking idle runners when work arrives.

On PostgreSQL, the store sends ``NOTIFY`` inside the enqueuing transaction, so runners hear of
an item exactly when it becomes visible (at commit) and never before; this module listens.
SQLite has no such channel, but ``PRAGMA data_version`` changes whenever another connection
commits and costs microseconds to read, so a watcher can look every few milliseconds where
polling the queue itself could not.
Both are optimisations: the runner's own polling keeps working without them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable

from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from ..conf import app_settings
from ..store.postgres import CHANNEL, listen_conninfo

logger = logging.getLogger("django_taskqueue.runner")


class NotificationListener(threading.Thread):
    """Holds a dedicated LISTEN connection and sets ``wakeup`` when one of ``queues`` gets work.

    It is an optimisation only: if the connection drops it reconnects with backoff, and the
    runner's polling keeps everything working in between.
    """

    def __init__(self, queues: Iterable[str], wakeup: threading.Event, using: str):
        super().__init__(name="taskqueue-listener", daemon=True)
        self.queues = set(queues)
        self.wakeup = wakeup
        self.stopping = threading.Event()
        self.conninfo = listen_conninfo(using)

    def run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(**self.conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.5
                    self.wakeup.set()  # anything enqueued while we were not listening
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=0.2):
                            if note.payload in self.queues:
                                self.wakeup.set()
            except psycopg.Error as exc:
                logger.info("LISTEN connection lost (%s); polling until it is back", exc)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 30)

    def stop(self) -> None:
        self.stopping.set()


class SqliteChangeWatcher(threading.Thread):
    """Sets ``wakeup`` when another connection commits to the SQLite database file."""

    PERIOD_SECONDS = 0.01

    def __init__(self, path: str, wakeup: threading.Event):
        super().__init__(name="taskqueue-sqlite-watcher", daemon=True)
        self.path = path
        self.wakeup = wakeup
        self.stopping = threading.Event()

    @staticmethod
    def database_path(using: str) -> str | None:
        """The file to watch, or None for an in-memory or non-SQLite database."""
        connection = connections[using]
        name = str(connection.settings_dict["NAME"])
        if not isinstance(connection, SQLiteWrapper) or connection.is_in_memory_db():
            return None
        return name

    def run(self) -> None:
        try:
            with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as conn:
                seen = conn.execute("PRAGMA data_version").fetchone()[0]
                while not self.stopping.wait(self.PERIOD_SECONDS):
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                    if version != seen:
                        seen = version
                        self.wakeup.set()
        except sqlite3.Error as exc:
            logger.info("SQLite change watcher stopped (%s); polling instead", exc)

    def stop(self) -> None:
        self.stopping.set()


def start_wakeup_source(
    queues: Iterable[str], wakeup: threading.Event, using: str
) -> NotificationListener | SqliteChangeWatcher | None:
    """Start whatever can wake this database's runners early; None if nothing can."""
    source: NotificationListener | SqliteChangeWatcher | None = None
    if connections[using].vendor == "postgresql" and app_settings.USE_LISTEN_NOTIFY:
        source = NotificationListener(queues, wakeup, using)
    elif path := SqliteChangeWatcher.database_path(using):
        source = SqliteChangeWatcher(path, wakeup)
    if source is not None:
        source.start()
    return source
