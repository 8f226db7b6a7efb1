"""Errors raised to callers. All derive from ``TaskQueueError`` so one ``except`` catches them.

Each class carries a stable ``code``: the HTTP API sends it as ``error.code``, so clients can
branch on it without parsing the message, and renaming a class never changes it.
"""

from __future__ import annotations

from collections.abc import Iterable


class TaskQueueError(Exception):
    """Base class of every error django-taskqueue raises on purpose."""

    code = "taskqueue_error"


class UnknownAlias(TaskQueueError, LookupError):
    code = "unknown_alias"

    def __init__(self, alias: str, known: Iterable[str] = ()) -> None:
        self.alias = alias
        self.known = sorted(known)
        listing = ", ".join(self.known) if self.known else "none are registered"
        super().__init__(f"Unknown task alias {alias!r}. Known aliases: {listing}.")


class InactiveDefinition(TaskQueueError):
    code = "inactive_definition"

    def __init__(self, alias: str) -> None:
        self.alias = alias
        super().__init__(f"Task definition {alias!r} is inactive; activate it to enqueue work.")


class InvalidValue(TaskQueueError, ValueError):
    """A value outside the documented rules: a number, date, duration, id or option."""

    code = "invalid_value"


class InvalidParameters(InvalidValue):
    """An unusable argument of an enqueue call: parameters that cannot be stored as JSON or
    exceed the size limit, or a bad priority, ``run_at``, ``delay`` or batch size."""

    code = "invalid_parameters"


class InvalidName(InvalidValue):
    """A queue name or alias outside the allowed character set."""

    code = "invalid_name"


class HandlerNotFound(TaskQueueError):
    """Raised at run time when an alias has no importable handler."""

    code = "handler_not_found"


class UnstorableOutput(TaskQueueError):
    """A handler's return value that cannot be stored as the item's output (fails the item)."""

    code = "unstorable_output"


class RunnerLost(TaskQueueError):
    """Recorded as the error of an attempt whose runner died (or stopped heartbeating) while
    the item ran; never raised."""

    code = "runner_lost"


class TaskInterrupt(BaseException):
    """Raised inside a handler's thread by the runner, to stop it: a timeout or a cancel.

    A ``BaseException``, for the reason ``asyncio.CancelledError`` is one: a handler's
    ``except Exception:`` around its work must not swallow the runner's interrupt. (A bare
    ``except:`` or ``except BaseException:`` still would; re-raise ``TaskInterrupt`` there.)
    """

    code = "task_interrupt"


class TaskTimeout(TaskInterrupt):
    """Injected into a handler that outlives its definition's timeout."""

    code = "task_timeout"


class TaskCanceled(TaskInterrupt):
    """Injected into a handler whose item an operator canceled while it ran."""

    code = "task_canceled"


class InvalidTransition(TaskQueueError):
    """An operator action that does not apply to an item in its current status."""

    code = "invalid_transition"


class Snooze(Exception):  # noqa: N818 - named for what the handler asks, like Django's Http404
    """Raised by a handler to run its item again later without spending an attempt.

    ``raise Snooze(30)``: the item goes back to ``queued`` with ``run_at`` 30 seconds from
    now, its attempt count as before the attempt. For "not yet" answers (a rate-limited API,
    a resource not ready) that are not failures.
    """

    code = "snooze"

    def __init__(self, seconds: float) -> None:
        from .validation import check_seconds

        self.seconds = check_seconds(seconds, "Snooze seconds")
        super().__init__(f"Snoozed for {self.seconds:g} s")


class DuplicateItem(TaskQueueError):
    """``enqueue_by_alias(..., unique_key=..., on_duplicate="raise")`` found an item holding
    the key; ``item_id`` names it."""

    code = "duplicate_item"

    def __init__(self, alias: str, unique_key: str, item_id: int) -> None:
        self.alias, self.unique_key, self.item_id = alias, unique_key, item_id
        super().__init__(f"Item #{item_id} of {alias!r} already holds unique key {unique_key!r}.")
