"""Running one claimed item: call its handler and turn whatever happens into an ``Outcome``.

Nothing a handler does may take the runner down, so every exception is caught here, including
``SystemExit`` and ``MemoryError``. A failure keeps its facts apart (the exception's class,
its message, the traceback operators read in the admin), so nothing has to parse a traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from .conf import app_settings
from .context import TaskContext, task_locals
from .exceptions import (
    HandlerNotFound,
    InvalidValue,
    Snooze,
    TaskCanceled,
    TaskTimeout,
    UnknownAlias,
    UnstorableOutput,
)
from .jsonvalues import encode_json
from .models import QueueItem, QueueItemAttempt, TaskDefinition
from .registry import get_spec, resolve_handler
from .retries import BACKOFF_KINDS, EXPONENTIAL, RetryPolicy, retry_delay
from .store.records import (
    SNOOZED,
    ClaimedItem,
    Failure,
    Outcome,
    UnreadableParameters,
    class_path,
)
from .validation import MAX_SECONDS


@dataclass(frozen=True)
class DefinitionInfo:
    """The parts of a TaskDefinition row the runner needs, cached between claims."""

    alias: str
    timeout_seconds: float | None
    retry_backoff_seconds: float
    retry_backoff_max_seconds: float
    retry_backoff: str = EXPONENTIAL

    @classmethod
    def from_row(cls, row: TaskDefinition) -> DefinitionInfo:
        """The row's values, made safe to compute with whatever a direct UPDATE put there: a
        timeout that is not a positive finite number means none, and backoffs are clamped to
        ``[0, MAX_SECONDS]``, so no value of the row can break the runner's arithmetic."""
        timeout = _finite_float(row.timeout_seconds)
        return cls(
            alias=row.alias,
            timeout_seconds=min(timeout, MAX_SECONDS) if timeout and timeout > 0 else None,
            retry_backoff_seconds=_clamped_seconds(row.retry_backoff_seconds),
            retry_backoff_max_seconds=_clamped_seconds(row.retry_backoff_max_seconds),
            retry_backoff=row.retry_backoff if row.retry_backoff in BACKOFF_KINDS else EXPONENTIAL,
        )


def _finite_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _clamped_seconds(value: object) -> float:
    return min(max(_finite_float(value) or 0.0, 0.0), MAX_SECONDS)


def encode_output(result: object) -> str | None:
    """The output's JSON text, by the same rules as parameters; ``UnstorableOutput`` if not."""
    if result is None:
        return None
    try:
        return encode_json(result, "output", app_settings.MAX_OUTPUT_BYTES, InvalidValue)
    except InvalidValue as exc:
        raise UnstorableOutput(
            f"Handler returned a value that is not JSON ({type(result).__name__}): {exc}"
        ) from None


def failure_outcome(
    item: ClaimedItem,
    definition: DefinitionInfo,
    failure: Failure,
    attempt_outcome: str = QueueItemAttempt.Outcome.FAILED,
    retryable: bool = True,
    details: str = "",
    exception: BaseException | None = None,
) -> Outcome:
    """A retry while attempts remain (and retrying can help), a final failure otherwise."""
    finished_at = timezone.now()
    policy = _retry_policy(definition.alias)
    retry = retryable and item.attempts < item.max_attempts
    retry = retry and policy.retries(_failure_class(failure, exception))
    if retry and attempt_outcome == QueueItemAttempt.Outcome.FAILED:
        attempt_outcome = QueueItemAttempt.Outcome.RETRY
    retry_at = None
    if retry:
        retry_at = finished_at + retry_delay(
            definition.retry_backoff,
            definition.retry_backoff_seconds,
            definition.retry_backoff_max_seconds,
            item.attempts,
            policy.backoff_function,
        )
    return Outcome(
        item_id=item.id,
        status=QueueItem.Status.QUEUED if retry else QueueItem.Status.FAILED,
        attempt=item.attempts,
        attempt_outcome=attempt_outcome,
        started_at=item.started_at,
        finished_at=finished_at,
        failure=failure,
        details=details,
        retry_at=retry_at,
        exception=exception,
    )


def _retry_policy(alias: str) -> RetryPolicy:
    try:
        return get_spec(alias).retry_policy
    except UnknownAlias:  # the handler is gone: nothing but the row's numbers to go by
        return RetryPolicy()


def _failure_class(failure: Failure, exception: BaseException | None) -> type[BaseException]:
    """The class to match ``retry_on``/``give_up_on`` against; a timeout has no exception
    object, only its class path."""
    if exception is not None:
        return type(exception)
    return TaskTimeout if failure.class_path == class_path(TaskTimeout) else Exception


def snooze_outcome(item: ClaimedItem, snooze: Snooze, details: str) -> Outcome:
    """Back to ``queued`` at ``now + seconds``, the attempt given back (no attempt row)."""
    finished_at = timezone.now()
    line = f"[{finished_at.isoformat(timespec='seconds')}] Snoozed for {snooze.seconds:g} s\n"
    return Outcome(
        item_id=item.id,
        status=QueueItem.Status.QUEUED,
        attempt=item.attempts,
        attempt_outcome=SNOOZED,
        started_at=item.started_at,
        finished_at=finished_at,
        details=details + line,
        retry_at=finished_at + timedelta(seconds=snooze.seconds),
    )


# How often an async handler's event loop wakes up to let an interrupt land.
INTERRUPT_POLL_SECONDS = 0.05


def run_coroutine(coroutine: Coroutine[object, object, object]) -> object:
    """Run an ``async def`` handler so that a timeout or cancel reaches it promptly.

    The runner stops a handler by raising an exception in its thread, and that only lands
    when the thread runs Python code. An event loop idle in ``select()`` runs none, so a
    handler awaiting a long sleep or a slow socket would run on long after its timeout. Waking
    the loop every ``INTERRUPT_POLL_SECONDS`` gives the exception a place to land; from there
    ``asyncio.run()`` cancels the handler's task, which sees ``CancelledError`` at its await.
    """

    async def supervise() -> object:
        task = asyncio.ensure_future(coroutine)
        while not task.done():
            await asyncio.wait({task}, timeout=INTERRUPT_POLL_SECONDS)
        return task.result()

    return asyncio.run(supervise())


def execute(
    item: ClaimedItem,
    definition: DefinitionInfo,
    context: TaskContext,
    on_handler_exit: Callable[[], None] = lambda: None,
) -> Outcome:
    """Run the handler of ``item``; never raises for anything the handler does.

    ``on_handler_exit`` runs inside the ``try`` right after the handler returns, so an
    interrupt aimed at the handler (timeout, cancel) that lands a moment late is still caught,
    and first thing in each ``except``, so none lands while the outcome is being built.
    """
    task_locals.context = context
    try:
        func = resolve_handler(definition.alias)
        parameters = item.decoded_parameters()
        result = func(**parameters)
        if inspect.iscoroutine(result):
            result = run_coroutine(result)
        on_handler_exit()
        output_json = encode_output(result)
        return Outcome(
            item_id=item.id,
            status=QueueItem.Status.SUCCESS,
            attempt=item.attempts,
            attempt_outcome=QueueItemAttempt.Outcome.SUCCESS,
            started_at=item.started_at,
            finished_at=timezone.now(),
            output_json=output_json,
            details="".join(context.details),
        )
    except Snooze as exc:
        on_handler_exit()
        return snooze_outcome(item, exc, "".join(context.details))
    except TaskCanceled as exc:
        on_handler_exit()
        return Outcome(
            item_id=item.id,
            status=QueueItem.Status.CANCELED,
            attempt=item.attempts,
            attempt_outcome=QueueItemAttempt.Outcome.CANCELED,
            started_at=item.started_at,
            finished_at=timezone.now(),
            failure=Failure(class_path(type(exc)), "Canceled by an operator while running."),
            details="".join(context.details),
        )
    except (HandlerNotFound, UnstorableOutput, UnreadableParameters) as exc:
        on_handler_exit()
        # Retrying cannot help: the same code, the same parameters, the same result.
        return failure_outcome(
            item,
            definition,
            Failure.from_exception(exc),
            retryable=False,
            details="".join(context.details),
            exception=exc,
        )
    except BaseException as exc:  # noqa: BLE001 - SystemExit, MemoryError, anything: it fails
        on_handler_exit()
        return failure_outcome(
            item,
            definition,
            Failure.from_exception(exc),
            details="".join(context.details),
            exception=exc,
        )
    finally:
        task_locals.context = None
        _discard_broken_connections()


def _discard_broken_connections() -> None:
    """Drop a connection a handler broke, so the next item on this thread gets a fresh one."""
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block and connection.connection is not None:
            connection.close()  # the handler leaked an open transaction
        elif connection.errors_occurred and not connection.is_usable():
            connection.close()
