"""The definition rows a runner needs, and the limits in force, cached: operators' edits
show within a refresh."""

from __future__ import annotations

from collections.abc import Iterable

from ..execution import DefinitionInfo
from ..limits import FlowRules
from ..store import QueueStore

# How often the cache is dropped, so an edited timeout or backoff takes effect.
REFRESH_SECONDS = 5.0


class DefinitionCache:
    def __init__(self, store: QueueStore) -> None:
        self._store = store
        self._known: dict[int, DefinitionInfo] = {}
        self._rules: FlowRules | None = None

    def get(self, ids: Iterable[int]) -> dict[int, DefinitionInfo]:
        wanted = set(ids)
        missing = wanted - self._known.keys()
        if missing:
            for row in self._store.definitions(missing):
                self._known[row.pk] = DefinitionInfo.from_row(row)
        return {i: self._known[i] for i in wanted}

    def flow_rules(self) -> FlowRules:
        """The limits of definitions and queues, read again after each refresh."""
        if self._rules is None:
            self._rules = self._store.flow_rules()
        return self._rules

    def refresh(self) -> None:
        self._known = {}
        self._rules = None
