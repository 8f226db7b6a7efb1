"""The definition rows a runner needs, cached: operators' edits show within a refresh."""

from __future__ import annotations

from collections.abc import Iterable

from ..execution import DefinitionInfo
from ..store import QueueStore

# How often the cache is dropped, so an edited timeout or backoff takes effect.
REFRESH_SECONDS = 5.0


class DefinitionCache:
    def __init__(self, store: QueueStore) -> None:
        self._store = store
        self._known: dict[int, DefinitionInfo] = {}
        self._limits: dict[int, int] | None = None

    def get(self, ids: Iterable[int]) -> dict[int, DefinitionInfo]:
        wanted = set(ids)
        missing = wanted - self._known.keys()
        if missing:
            for row in self._store.definitions(missing):
                self._known[row.pk] = DefinitionInfo.from_row(row)
        return {i: self._known[i] for i in wanted}

    def concurrency_limits(self) -> dict[int, int]:
        """The limited definitions, read again after each refresh."""
        if self._limits is None:
            self._limits = self._store.concurrency_limits()
        return self._limits

    def refresh(self) -> None:
        self._known = {}
        self._limits = None
