"""The worker pool: threads that run handlers, the items in flight, and interrupts.

Worker threads only run handlers; they never talk to the queue's tables. What a handler
produced is handed to ``on_settled`` (the runner's outcome buffer) exactly once per item,
whether the handler finished, failed, was timed out or was canceled, under the pool's lock: it
must be quick and must not call back into the pool.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections, reset_queries

from .. import tracing
from ..context import TaskContext
from ..exceptions import TaskCanceled, TaskInterrupt, TaskTimeout
from ..execution import DefinitionInfo, execute, failure_outcome
from ..models import QueueItemAttempt
from ..store import ClaimedItem, Failure, Outcome
from .attempt_log import log_attempt

logger = logging.getLogger("django_taskqueue.runner")

# Prefetch only when items average under PREFETCH_BELOW_SECONDS, and then hold about
# PREFETCH_SECONDS of work per worker, never more than MAX_PREFETCH items.
PREFETCH_BELOW_SECONDS = 0.05
PREFETCH_SECONDS = 0.25
MAX_PREFETCH = 200


@dataclass
class Execution:
    """An item handed to a worker thread; ``settled`` flips once, under the pool's lock."""

    item: ClaimedItem
    definition: DefinitionInfo
    context: TaskContext
    deadline: float | None = None  # set when a worker starts it; prefetched items wait
    started: float = 0.0
    thread_ident: int | None = None
    in_handler: bool = False
    settled: bool = False
    span: Any = None  # the attempt's tracing span, ended by whoever settles it


class WorkerPool:
    def __init__(
        self,
        concurrency: int,
        on_settled: Callable[[Execution, Outcome], None],
        using: str | None = None,
    ):
        self.concurrency = concurrency
        self.using = using  # the queue's database, which handlers' current_task() reads
        self._on_settled = on_settled
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[Execution | None] = queue.SimpleQueue()
        self._in_flight: dict[int, Execution] = {}
        self._workers = 0
        self._recent_duration: float | None = None  # moving average of item run time

    # ------------------------------------------------------------------ the runner's view
    def start(self) -> None:
        for _ in range(self.concurrency):
            self._start_worker()

    def stop(self) -> None:
        """Let every worker thread end once it is done with its current item."""
        with self._lock:
            workers = self._workers
        for _ in range(workers):
            self._work.put(None)

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    def submit(self, item: ClaimedItem, definition: DefinitionInfo) -> None:
        context = TaskContext(
            item_id=item.id,
            alias=definition.alias,
            queue_name=item.queue_name,
            attempt=item.attempts,
            max_attempts=item.max_attempts,
            using=self.using,
        )
        execution = Execution(item=item, definition=definition, context=context)
        with self._lock:
            self._in_flight[item.id] = execution
        self._work.put(execution)

    def free_slots(self) -> int:
        """How many items to claim now: 0 until a quarter of the capacity is free, so claims
        (and the outcomes written with them) come in batches."""
        capacity = self.concurrency + self._prefetch()
        free = capacity - len(self._in_flight)
        if free <= 0 or (self._in_flight and free < max(1, capacity // 4)):
            return 0
        return free

    def idle_workers(self) -> int:
        """Threads with nothing to run: what may be claimed to start at once."""
        return max(self.concurrency - len(self._in_flight), 0)

    def next_deadline(self) -> float | None:
        deadlines = [e.deadline for e in list(self._in_flight.values()) if e.deadline]
        return min(deadlines) if deadlines else None

    def enforce_timeouts(self) -> None:
        """Settle every item past its deadline as timed out and interrupt its handler."""
        now = time.monotonic()
        for execution in list(self._in_flight.values()):
            if execution.deadline is None or execution.deadline > now:
                continue
            timeout = execution.definition.timeout_seconds
            message = f"Timed out after {timeout:g} s (the definition's timeout)."
            outcome = failure_outcome(
                execution.item,
                execution.definition,
                Failure("django_taskqueue.exceptions.TaskTimeout", message),
                attempt_outcome=QueueItemAttempt.Outcome.TIMEOUT,
                details="".join(execution.context.details),
            )
            self._interrupt(execution, TaskTimeout)
            self._settle(execution, outcome)
            # The handler's thread may stay blocked in C code; keep full capacity meanwhile.
            self._start_worker()

    def cancel(self, item_ids: list[int]) -> None:
        """Tell these items' handlers to stop: the flag for cooperative ones, an interrupt
        for the rest."""
        for item_id in item_ids:
            execution = self._in_flight.get(item_id)
            if execution and not execution.context.cancel_requested.is_set():
                execution.context.cancel_requested.set()
                self._interrupt(execution, TaskCanceled)

    def take_unfinished(self) -> list[ClaimedItem]:
        """At shutdown: the items not settled yet; their late outcomes will be dropped."""
        with self._lock:
            unfinished = list(self._in_flight.values())
            for execution in unfinished:
                execution.settled = True
            self._in_flight.clear()
        return [execution.item for execution in unfinished]

    # ------------------------------------------------------------------ worker threads
    def _prefetch(self) -> int:
        """Items to hold beyond the busy workers: about PREFETCH_SECONDS of work, short items
        only. For short items a local backlog keeps workers busy while the main thread waits
        on the database; for long ones it would hoard work an idle runner elsewhere could do."""
        average = self._recent_duration
        if average is None or average >= PREFETCH_BELOW_SECONDS:
            return 0
        wanted = int(self.concurrency * PREFETCH_SECONDS / max(average, 1e-4))
        return min(MAX_PREFETCH, max(self.concurrency, wanted))

    def _start_worker(self) -> None:
        with self._lock:
            self._workers += 1
        threading.Thread(target=self._work_loop, name="taskqueue-worker", daemon=True).start()

    def _work_loop(self) -> None:
        try:
            while True:
                execution = self._work.get()
                if execution is None:
                    return
                self._run_one(execution)
                with self._lock:
                    if self._workers > self.concurrency:  # a replacement took our place
                        self._workers -= 1
                        return
        finally:
            connections.close_all()

    def _run_one(self, execution: Execution) -> None:
        """Run one item and settle it, inside its attempt's span when tracing is on."""
        execution.thread_ident = threading.get_ident()
        # The attempt's span starts, and becomes current, before ``in_handler`` is set: no
        # interrupt aimed at the handler can land in a tracer's code.
        if not execution.settled:
            execution.span = tracing.start_attempt(execution.item, execution.definition.alias)
        try:
            with tracing.current(execution.span):
                self._run_and_settle(execution)
        finally:
            if execution.span is not None:  # released at shutdown: nobody settled it
                with self._lock:
                    span, execution.span = execution.span, None
                if span is not None:
                    tracing.end_attempt(span, None)

    def _run_and_settle(self, execution: Execution) -> None:
        """Settle the item, whatever happens, so this thread lives on.

        ``execute`` turns everything a handler does into an outcome; this also covers the
        pool's own code around it. An error there fails the item with its traceback.
        """
        try:
            with self._lock:
                if execution.settled:  # released at shutdown before we got to it
                    return
                execution.started = time.monotonic()
                timeout = execution.definition.timeout_seconds
                execution.deadline = execution.started + timeout if timeout else None
                execution.in_handler = True
            outcome = execute(
                execution.item,
                execution.definition,
                execution.context,
                on_handler_exit=lambda: self._leave_handler(execution),
            )
        except TaskInterrupt as exc:
            # An interrupt that arrived just after the handler returned: still an outcome.
            outcome = self._runner_failure(execution, Failure.from_exception(exc))
        except BaseException as exc:  # noqa: BLE001 - the runner's own fault, this item's outcome
            logger.exception("Runner error around item #%d", execution.item.id)
            failure = Failure.from_exception(exc, heading="Runner error around this item:\n")
            outcome = self._runner_failure(execution, failure)
        try:
            self._leave_handler(execution)
            self._settle(execution, outcome)
            reset_queries()  # this thread's connections, as the main loop does for its own
        except BaseException:  # noqa: BLE001 - e.g. an interrupt landing after the handler
            logger.exception("Runner error settling item #%d", execution.item.id)
            self._settle(execution, outcome)

    @staticmethod
    def _runner_failure(execution: Execution, failure: Failure) -> Outcome:
        """A retryable failure; if even that cannot be computed, a final one."""
        try:
            return failure_outcome(execution.item, execution.definition, failure)
        except Exception:  # noqa: BLE001
            return failure_outcome(execution.item, execution.definition, failure, retryable=False)

    def _leave_handler(self, execution: Execution) -> None:
        with self._lock:
            execution.in_handler = False

    def _settle(self, execution: Execution, outcome: Outcome) -> None:
        with self._lock:
            if execution.settled:
                return
            execution.settled = True
            self._in_flight.pop(execution.item.id, None)
            duration = time.monotonic() - execution.started
            self._recent_duration = (
                duration
                if self._recent_duration is None
                else 0.9 * self._recent_duration + 0.1 * duration
            )
            # Under the lock: an item is never out of flight without its outcome in the buffer.
            self._on_settled(execution, outcome)
            span, execution.span = execution.span, None
        log_attempt(execution.definition.alias, execution.item, outcome, duration)
        if span is not None:
            tracing.end_attempt(span, outcome)
        outcome.exception = None

    def _interrupt(self, execution: Execution, exc_type: type[BaseException]) -> None:
        """Raise ``exc_type`` inside the handler's thread, if it is still in the handler."""
        with self._lock:
            if execution.settled or not execution.in_handler or execution.thread_ident is None:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(execution.thread_ident), ctypes.py_object(exc_type)
            )
