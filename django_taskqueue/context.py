"""What a running handler can learn about its item: ``current_task()``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone


@dataclass
class TaskContext:
    """What a running handler can learn about its item, via ``current_task()``."""

    item_id: int
    alias: str
    queue_name: str
    attempt: int
    max_attempts: int
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    details: list[str] = field(default_factory=list)
    using: str | None = None  # the queue's database alias (None: TASKQUEUE["DATABASE"])
    _parent_outputs: list[Any] | None = field(default=None, repr=False)

    @property
    def parent_outputs(self) -> list[Any]:
        """The outputs of this item's direct parents (``depends_on``, or the steps before it
        in a workflow), in the order they were given; read once, when first asked for."""
        if self._parent_outputs is None:
            from .store import get_store

            self._parent_outputs = get_store(self.using).parent_outputs(self.item_id)
        return self._parent_outputs

    def log(self, message: str) -> None:
        """Append a line to the item's details, saved with its outcome."""
        self.details.append(f"[{timezone.now().isoformat(timespec='seconds')}] {message}\n")


task_locals = threading.local()  # .context: the TaskContext of the item this thread runs


def current_task() -> TaskContext | None:
    """The context of the item this thread is running, or None outside a handler."""
    return getattr(task_locals, "context", None)
