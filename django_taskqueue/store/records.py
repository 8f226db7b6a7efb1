"""The values that cross the store's boundary: claimed items going out, outcomes coming in."""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..validation import storable_text

# What one attempt may store of its traceback and its log; beyond, the middle is cut.
MAX_ERROR_CHARACTERS = 100_000
MAX_DETAILS_CHARACTERS = 1_000_000
MAX_MESSAGE_CHARACTERS = 10_000
MAX_CLASS_PATH_CHARACTERS = 255  # the column's length

# The attempt outcome of a handler's ``raise Snooze(...)``: the item waits again, its attempt
# given back, and no attempt row is written.
SNOOZED = "snoozed"


class UnreadableParameters(Exception):
    """Stored parameters that are not a JSON object Python can read (written behind our back)."""


@dataclass
class ClaimedItem:
    id: int
    definition_id: int
    queue_name: str
    parameters: Any  # as the database returned it: JSON text, or already decoded
    attempts: int
    max_attempts: int
    priority: int
    # When the claim took it: the attempt's start, as ``started_at`` on the item and on its
    # attempt row, so a result reads the same while running and once finished.
    started_at: datetime
    # The carrier of the span that enqueued it, read after the claim while tracing is on.
    trace_context: Any = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...], started_at: datetime) -> ClaimedItem:
        """From a claim's ``RETURNING id, definition_id, queue_name, parameters, attempts,
        max_attempts, priority``."""
        item_id, definition_id, queue_name, parameters, attempts, max_attempts, priority = row
        return cls(
            item_id,
            definition_id,
            queue_name,
            parameters,
            attempts,
            max_attempts,
            priority,
            started_at,
        )

    def decoded_parameters(self) -> dict[str, Any]:
        """The keyword arguments for the handler. Decoded here, per item, so one unreadable
        row fails that item instead of the claim that fetched it with others."""
        try:
            value = (
                json.loads(self.parameters)
                if isinstance(self.parameters, (str, bytes))
                else (self.parameters)
            )
        except (ValueError, RecursionError) as exc:
            raise UnreadableParameters(f"The stored parameters cannot be read: {exc}") from None
        if not isinstance(value, dict):
            raise UnreadableParameters(
                f"The stored parameters are a JSON {type(value).__name__}, not an object."
            )
        return value


@dataclass(frozen=True)
class Failure:
    """The facts of a failed attempt, kept apart so nothing has to parse a traceback later."""

    class_path: str  # e.g. "builtins.ExceptionGroup", "myapp.tasks.PaymentDeclined"
    message: str
    traceback: str = ""  # the whole text operators read; may be empty (a timeout has none)

    @classmethod
    def from_exception(cls, exc: BaseException, heading: str = "") -> Failure:
        return cls(
            class_path=class_path(type(exc)),
            message=_message_of(exc),
            traceback=heading + "".join(traceback.format_exception(exc)),
        )

    @property
    def text(self) -> str:
        """What ``last_error`` shows: the traceback, or the message when there is none."""
        return self.traceback or self.message


def class_path(kind: type) -> str:
    """``builtins.ExceptionGroup``, ``myapp.tasks.Outer.Inner``: what ``import_string`` undoes."""
    return f"{kind.__module__}.{kind.__qualname__}"


def _message_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails still has a class
        return f"<{type(exc).__name__}: str() failed>"


@dataclass
class Outcome:
    """What one attempt produced, waiting to be written in the next batch."""

    item_id: int
    status: str  # a QueueItem.Status value: success, failed, canceled, or queued for a retry
    attempt: int
    attempt_outcome: str  # a QueueItemAttempt.Outcome value
    started_at: datetime
    finished_at: datetime
    output_json: str | None = None
    failure: Failure | None = None
    details: str = ""
    retry_at: datetime | None = None
    # What the handler raised, for the runner's log record (which wants ``exc_info``); the
    # runner drops it once logged, so the handler's frames are not kept until the write.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def error(self) -> str:
        return self.failure.text if self.failure else ""

    def storable(self) -> Outcome:
        """This outcome with text every database accepts, and a note in the log if it took
        changes: NUL characters and lone surrogates become U+FFFD, and an oversized error or
        log loses its middle."""
        details, replaced = storable_text(_cut(self.details, MAX_DETAILS_CHARACTERS))
        failure = self.failure
        if failure is not None:
            class_path, in_class = storable_text(failure.class_path[:MAX_CLASS_PATH_CHARACTERS])
            message, in_message = storable_text(_cut(failure.message, MAX_MESSAGE_CHARACTERS))
            text, in_text = storable_text(_cut(failure.traceback, MAX_ERROR_CHARACTERS))
            failure = Failure(class_path, message, text)
            replaced += in_class + in_message + in_text
        if replaced:
            details += (
                f"[django-taskqueue] {replaced} character(s) that cannot be stored (NUL or "
                "lone surrogates) were replaced by U+FFFD in this attempt's error and log.\n"
            )
        if failure == self.failure and details == self.details:
            return self
        return replace(self, failure=failure, details=details)

    def unstorable(self, exc: BaseException) -> Outcome:
        """The outcome to store instead of this one, which the database refused."""
        reason = storable_text(f"{type(exc).__name__}: {_message_of(exc)}"[:500])[0]
        message = (
            f"The outcome of attempt {self.attempt} could not be stored ({reason}), so the "
            "item was failed instead."
        )
        return replace(
            self,
            status="failed",
            attempt_outcome="failed",
            output_json=None,
            details="",
            retry_at=None,
            failure=Failure(class_path(type(exc)), message),
        )


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[… {len(text) - 2 * half} characters cut …]\n{text[-half:]}"


@dataclass(frozen=True)
class TransitionResult:
    """What an operator action changed: ``changed`` maps item id to its queue, ``skipped``
    maps item id to the status that made the action not apply."""

    changed: dict[int, str]
    skipped: dict[int, str]
