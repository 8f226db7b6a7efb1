"""Errors raised to callers. All derive from ``TaskQueueError`` so one ``except`` catches them."""

from __future__ import annotations

from collections.abc import Iterable


class TaskQueueError(Exception):
    """Base class of every error django-taskqueue raises on purpose."""


class UnknownAlias(TaskQueueError, LookupError):
    def __init__(self, alias: str, known: Iterable[str] = ()) -> None:
        self.alias = alias
        self.known = sorted(known)
        listing = ", ".join(self.known) if self.known else "none are registered"
        super().__init__(f"Unknown task alias {alias!r}. Known aliases: {listing}.")


class InactiveDefinition(TaskQueueError):
    def __init__(self, alias: str) -> None:
        self.alias = alias
        super().__init__(f"Task definition {alias!r} is inactive; activate it to enqueue work.")


class InvalidParameters(TaskQueueError, ValueError):
    """Parameters that cannot be stored as JSON, or that exceed the size limit."""


class InvalidName(TaskQueueError, ValueError):
    """A queue name or alias outside the allowed character set."""


class HandlerNotFound(TaskQueueError):
    """Raised at run time when an alias has no importable handler."""


class TaskTimeout(TaskQueueError):
    """Injected into a handler that outlives its definition's timeout."""


class TaskCanceled(TaskQueueError):
    """Injected into a handler whose item an operator canceled while it ran."""


class InvalidTransition(TaskQueueError):
    """An operator action that does not apply to an item in its current status."""
