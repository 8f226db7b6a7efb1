"""The runner loop: claim a batch, execute it on worker threads, record outcomes in batches.

One main thread talks to the database for claims, outcomes, heartbeats and recovery; worker
threads only run handlers. That keeps the hot path at two statements per batch whatever the
concurrency, and lets the main thread enforce timeouts and shut down without waiting on a
handler that never returns.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections, reset_queries, transaction
from django.utils import timezone

from .claiming import (
    OUTAGE_ERRORS,
    ClaimedItem,
    Outcome,
    claim_batch,
    record_outcomes,
    record_outcomes_one_by_one,
    release_items,
)
from .conf import app_settings
from .exceptions import InvalidValue, TaskCanceled, TaskTimeout
from .execution import DefinitionInfo, TaskContext, execute, failure_outcome
from .maintenance import recover_stuck_items
from .models import QueueItem, QueueItemAttempt, QueueState, TaskDefinition
from .models import Runner as RunnerRow
from .notify import NotificationListener, SqliteChangeWatcher, start_wakeup_source
from .stop_signals import StopSignals
from .validation import check_integer, check_seconds, check_unstuck_minutes, validate_name

logger = logging.getLogger("django_taskqueue.runner")

DEFINITION_CACHE_SECONDS = 5.0
# Prefetch only when items average under PREFETCH_BELOW_SECONDS, and then hold about
# PREFETCH_SECONDS of work per worker, never more than MAX_PREFETCH items.
PREFETCH_BELOW_SECONDS = 0.05
PREFETCH_SECONDS = 0.25
MAX_PREFETCH = 200
# Bounds of the runner's options, whether from the command line or the settings.
MAX_CONCURRENCY = 1000
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 0.01, 3600.0
MAX_GRACE_SECONDS = 24 * 3600.0


@dataclass
class Execution:
    """An item handed to a worker thread; ``settled`` flips once, under the runner's lock."""

    item: ClaimedItem
    definition: DefinitionInfo
    context: TaskContext
    deadline: float | None = None  # set when a worker starts it; prefetched items wait
    started: float = 0.0
    thread_ident: int | None = None
    in_handler: bool = False
    settled: bool = False


class QueueRunner:
    def __init__(
        self,
        queues: list[str],
        *,
        concurrency: int | None = None,
        interval: float | None = None,
        unstuck_minutes: float | None = None,
        burst: bool = False,
        grace_seconds: float | None = None,
        using: str = "default",
    ) -> None:
        self.queues = [validate_name(q, "queue name") for q in queues]
        if not self.queues:
            raise InvalidValue("A runner needs at least one queue name.")
        self.concurrency = check_integer(
            app_settings.RUNNER_CONCURRENCY if concurrency is None else concurrency,
            "concurrency",
            1,
            MAX_CONCURRENCY,
        )
        self.interval = check_seconds(
            app_settings.RUNNER_INTERVAL_SECONDS if interval is None else interval,
            "interval",
            minimum=MIN_INTERVAL_SECONDS,
            maximum=MAX_INTERVAL_SECONDS,
        )
        self.unstuck_minutes = check_unstuck_minutes(
            app_settings.RUNNER_UNSTUCK_MINUTES if unstuck_minutes is None else unstuck_minutes
        )
        # Heartbeat well inside the unstuck window, or live runners would look dead.
        self.heartbeat_seconds = min(
            check_seconds(app_settings.RUNNER_HEARTBEAT_SECONDS, "RUNNER_HEARTBEAT_SECONDS"),
            self.unstuck_minutes * 60 / 3,
        )
        self.grace_seconds = check_seconds(
            app_settings.RUNNER_SHUTDOWN_GRACE_SECONDS if grace_seconds is None else grace_seconds,
            "grace_seconds",
            maximum=MAX_GRACE_SECONDS,
        )
        self.burst = burst
        self.using = using
        self.runner_id = uuid.uuid4().hex
        self.name = f"{socket.gethostname()}:{os.getpid()}"

        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._forced = threading.Event()
        self._work: queue.SimpleQueue[Execution | None] = queue.SimpleQueue()
        self._in_flight: dict[int, Execution] = {}
        self._outcomes: list[Outcome] = []
        self._oldest_outcome = 0.0
        self._workers = 0
        self._definitions: dict[int, tuple[float, DefinitionInfo]] = {}
        self._paused: set[str] = set()
        self._next_heartbeat = 0.0
        self._last_claim_full = False
        self._db_down_since: float | None = None
        self._last_heartbeat = time.monotonic()
        self._recover_after = 0.0  # no recovery of others' items before this monotonic time
        self._wakeup_source: NotificationListener | SqliteChangeWatcher | None = None
        self._recent_duration: float | None = None  # moving average of item run time
        self._stop_signals = StopSignals(self._on_stop_signal)

    # ------------------------------------------------------------------ public
    def run(self) -> int:
        """Run until stopped (or drained, with ``burst``); return the process exit code."""
        self._stop_signals.install()
        try:
            self._register()
            for _ in range(self.concurrency):
                self._start_worker()
            self._wakeup_source = start_wakeup_source(self.queues, self._wakeup, self.using)
        except BaseException:
            self._abandon_start()
            raise
        logger.info(
            "Runner %s started on queue(s) %s with concurrency %d",
            self.name,
            ", ".join(self.queues),
            self.concurrency,
        )
        while not self._stopping.is_set():
            try:
                self._tick()
                # Django clears the DEBUG query log per request; a runner never finishes one.
                reset_queries()
                self._database_is_back()
            except OUTAGE_ERRORS as exc:
                self._database_is_down(exc)
                continue
            except Exception:  # noqa: BLE001 - nothing may stop the loop; say it loudly
                # A fault in the runner's own code, or a database refusal no item explains.
                # Outcomes in hand went back to the buffer; try again after a pause.
                logger.exception("Runner error; going on in %g s", self.interval)
                self._stopping.wait(self.interval)
                continue
            if self.burst and self._drained():
                break
            self._wakeup.wait(self._next_wait())
            self._wakeup.clear()
        return self._shutdown()

    def stop(self, force: bool = False) -> None:
        if self._stopping.is_set() or force:
            self._forced.set()
        self._stopping.set()
        self._wakeup.set()

    # ------------------------------------------------------------------ main loop
    def _tick(self) -> None:
        if time.monotonic() >= self._next_heartbeat:
            self._heartbeat()
        self._enforce_timeouts()
        limit = self._claim_limit()
        flush = self._flush_due()
        if not flush and not limit:
            self._last_claim_full = False
            return
        queues = [q for q in self.queues if q not in self._paused]
        with self._taking_outcomes(flush) as outcomes:
            batch = self._record_and_claim(outcomes, queues, limit)
        self._last_claim_full = bool(limit) and len(batch) == limit
        if batch:
            self._dispatch(batch)

    def _claim_limit(self) -> int:
        """How many items to claim now: 0 until a quarter of the capacity is free, so claims
        (and the outcomes written with them) come in batches."""
        if self._stopping.is_set():
            return 0
        capacity = self.concurrency + self._prefetch()
        free = capacity - len(self._in_flight)
        if free <= 0 or (self._in_flight and free < max(1, capacity // 4)):
            return 0
        return free

    def _prefetch(self) -> int:
        """Items to hold beyond the busy workers: about PREFETCH_SECONDS of work, short items only.

        For short items a local backlog keeps workers busy while the main thread waits on the
        database; for long ones it would hoard work that an idle runner elsewhere could start.
        """
        average = self._recent_duration
        if average is None or average >= PREFETCH_BELOW_SECONDS:
            return 0
        wanted = int(self.concurrency * PREFETCH_SECONDS / max(average, 1e-4))
        return min(MAX_PREFETCH, max(self.concurrency, wanted))

    def _next_wait(self) -> float:
        now = time.monotonic()
        if self._last_claim_full and not self._stopping.is_set():
            return 0
        waits = [self.interval, max(self._next_heartbeat - now, 0)]
        if self._outcomes:
            waits.append(max(self._oldest_outcome + app_settings.COMPLETION_FLUSH_SECONDS - now, 0))
        deadlines = [e.deadline for e in list(self._in_flight.values()) if e.deadline]
        if deadlines:
            waits.append(max(min(deadlines) - now, 0))
        return min(waits)

    def _drained(self) -> bool:
        return not self._in_flight and not self._outcomes and not self._last_claim_full

    # ------------------------------------------------------------------ dispatch and workers
    def _dispatch(self, batch: list[ClaimedItem]) -> None:
        definitions = self._definitions_for({item.definition_id for item in batch})
        for item in batch:
            definition = definitions[item.definition_id]
            execution = Execution(
                item=item,
                definition=definition,
                context=TaskContext(
                    item_id=item.id,
                    alias=definition.alias,
                    queue_name=item.queue_name,
                    attempt=item.attempts,
                    max_attempts=item.max_attempts,
                ),
            )
            with self._lock:
                self._in_flight[item.id] = execution
            self._work.put(execution)

    def _definitions_for(self, ids: set[int]) -> dict[int, DefinitionInfo]:
        now = time.monotonic()
        missing = [i for i in ids if i not in self._definitions or self._definitions[i][0] < now]
        if missing:
            for row in TaskDefinition.all_objects.using(self.using).filter(pk__in=missing):
                expires = now + DEFINITION_CACHE_SECONDS
                self._definitions[row.pk] = (expires, DefinitionInfo.from_row(row))
        return {i: self._definitions[i][1] for i in ids}

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
        """Run one item and settle it, whatever happens, so this thread lives on.

        ``execute`` turns everything a handler does into an outcome; this also covers the
        runner's own code around it. An error there fails the item with its traceback.
        """
        execution.thread_ident = threading.get_ident()
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
        except (TaskTimeout, TaskCanceled) as exc:
            # An interrupt that arrived just after the handler returned: still an outcome.
            outcome = self._runner_failure(execution, repr(exc))
        except BaseException:  # noqa: BLE001 - the runner's own fault, this item's outcome
            logger.exception("Runner error around item #%d", execution.item.id)
            outcome = self._runner_failure(
                execution, "Runner error around this item:\n" + traceback.format_exc()
            )
        try:
            self._leave_handler(execution)
            self._settle(execution, outcome)
            reset_queries()  # this thread's connections, as the main loop does for its own
        except BaseException:  # noqa: BLE001 - e.g. an interrupt landing after the handler
            logger.exception("Runner error settling item #%d", execution.item.id)
            self._settle(execution, outcome)

    @staticmethod
    def _runner_failure(execution: Execution, error: str) -> Outcome:
        """A retryable failure; it cannot fail in turn (no arithmetic on row values)."""
        try:
            return failure_outcome(execution.item, execution.definition, timezone.now(), error)
        except Exception:  # noqa: BLE001
            return failure_outcome(
                execution.item, execution.definition, timezone.now(), error, retryable=False
            )

    def _leave_handler(self, execution: Execution) -> None:
        with self._lock:
            execution.in_handler = False

    def _settle(self, execution: Execution, outcome: Outcome) -> None:
        with self._lock:
            if execution.settled:
                return
            execution.settled = True
            self._in_flight.pop(execution.item.id, None)
            now = time.monotonic()
            if not self._outcomes:
                self._oldest_outcome = now
            self._outcomes.append(outcome)
            duration = now - execution.started
            self._recent_duration = (
                duration
                if self._recent_duration is None
                else 0.9 * self._recent_duration + 0.1 * duration
            )
        logger.info(
            "%s #%d attempt %d/%d %s in %.1f ms",
            execution.definition.alias,
            execution.item.id,
            execution.item.attempts,
            execution.item.max_attempts,
            outcome.attempt_outcome,
            (time.monotonic() - execution.started) * 1000,
        )
        self._wakeup.set()

    def _interrupt(self, execution: Execution, exc_type: type[BaseException]) -> None:
        """Raise ``exc_type`` inside the handler's thread, if it is still in the handler."""
        with self._lock:
            if execution.settled or not execution.in_handler or execution.thread_ident is None:
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(execution.thread_ident), ctypes.py_object(exc_type)
            )

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for execution in list(self._in_flight.values()):
            if execution.deadline is None or execution.deadline > now:
                continue
            timeout = execution.definition.timeout_seconds
            outcome = failure_outcome(
                execution.item,
                execution.definition,
                timezone.now() - timedelta(seconds=now - execution.started),
                f"Timed out after {timeout:g} s (the definition's timeout).",
                attempt_outcome=QueueItemAttempt.Outcome.TIMEOUT,
                details="".join(execution.context.details),
            )
            self._interrupt(execution, TaskTimeout)
            self._settle(execution, outcome)
            # The handler's thread may stay blocked in C code; keep full capacity meanwhile.
            self._start_worker()

    # ------------------------------------------------------------------ database housekeeping
    def _flush_due(self) -> bool:
        if not self._outcomes:
            return False
        age = time.monotonic() - self._oldest_outcome
        return (
            len(self._outcomes) >= app_settings.COMPLETION_FLUSH_SIZE
            or age >= app_settings.COMPLETION_FLUSH_SECONDS
            or not self._in_flight
        )

    @contextmanager
    def _taking_outcomes(self, take: bool = True) -> Iterator[list[Outcome]]:
        """Hand out the pending outcomes; put them back if writing them fails.

        Putting them back is safe: each write is guarded by status and holder, so a retry of an
        outcome that did land changes nothing.
        """
        with self._lock:
            outcomes, self._outcomes = (self._outcomes, []) if take else ([], self._outcomes)
        try:
            yield outcomes
        except BaseException:
            with self._lock:
                self._outcomes[:0] = outcomes
            raise

    def _flush(self) -> None:
        with self._taking_outcomes() as outcomes:
            self._record_and_claim(outcomes, [], 0)

    def _record_and_claim(
        self, outcomes: list[Outcome], queues: list[str], limit: int
    ) -> list[ClaimedItem]:
        """Write ``outcomes`` and claim up to ``limit`` items of ``queues``.

        Both share one transaction: one commit (one fsync) per batch. If the database refuses
        a value of some outcome, the outcomes are written one at a time instead, so that only
        its own item is affected, and the claim runs on its own.
        """
        try:
            with transaction.atomic(using=self.using):
                record_outcomes(outcomes, self.runner_id, self.name, self.using)
                return claim_batch(queues, limit, self.runner_id, timezone.now(), self.using)
        except OUTAGE_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - a value in the batch was refused
            record_outcomes_one_by_one(outcomes, self.runner_id, self.name, self.using)
            return claim_batch(queues, limit, self.runner_id, timezone.now(), self.using)

    def _heartbeat(self) -> None:
        now = timezone.now()
        RunnerRow.objects.using(self.using).filter(pk=self.runner_id).update(heartbeat_at=now)
        beat = time.monotonic()
        if beat - self._last_heartbeat > 2 * self.heartbeat_seconds:
            # We could not heartbeat for a while (a database outage or stall), and neither,
            # probably, could the other runners. Recovering now would take the items of runners
            # that are alive but have not heartbeaten again yet: give them two chances first.
            self._recover_after = beat + 2 * self.heartbeat_seconds
        self._last_heartbeat = beat
        self._paused = QueueState.objects.using(self.using).paused_names(self.queues)
        if self._in_flight:
            canceled = (
                QueueItem.all_objects.using(self.using)
                .filter(
                    runner_id=self.runner_id, status=QueueItem.Status.RUNNING, cancel_requested=True
                )
                .values_list("pk", flat=True)
            )
            for item_id in canceled:
                execution = self._in_flight.get(item_id)
                if execution and not execution.context.cancel_requested.is_set():
                    execution.context.cancel_requested.set()
                    self._interrupt(execution, TaskCanceled)
        if beat >= self._recover_after:
            recover_stuck_items(self.unstuck_minutes)
        self._next_heartbeat = time.monotonic() + self.heartbeat_seconds

    def _abandon_start(self) -> None:
        """Undo a start that failed part way: no live-looking Runner row, signals restored."""
        self._stop_signals.restore()
        try:
            RunnerRow.objects.using(self.using).filter(pk=self.runner_id).update(
                stopped_at=timezone.now()
            )
        except Exception:  # noqa: BLE001 - the start's own error is the one to report
            logger.exception("Could not mark runner %s stopped", self.name)

    def _register(self) -> None:
        host, pid = self.name.rsplit(":", 1)
        self._with_database_retries(
            lambda: RunnerRow.objects.using(self.using).create(
                id=self.runner_id,
                hostname=host,
                pid=int(pid),
                queues=self.queues,
                concurrency=self.concurrency,
            )
        )

    def _database_is_down(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._db_down_since is None:
            self._db_down_since = now
            logger.warning("Database unavailable (%s); retrying with backoff", exc)
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        connections[self.using].close()
        backoff = min(0.5 * 2 ** min((now - self._db_down_since) // 2, 6), 30)
        self._stopping.wait(backoff)

    def _database_is_back(self) -> None:
        if self._db_down_since is not None:
            logger.warning(
                "Database reachable again after %.1f s", time.monotonic() - self._db_down_since
            )
            self._db_down_since = None

    def _with_database_retries(self, action, deadline_seconds: float = 60.0):  # type: ignore[no-untyped-def]
        give_up = time.monotonic() + deadline_seconds
        while True:
            try:
                result = action()
                self._database_is_back()
                return result
            except OUTAGE_ERRORS as exc:
                if time.monotonic() > give_up:
                    raise
                self._database_is_down(exc)

    # ------------------------------------------------------------------ shutdown
    def _on_stop_signal(self, signum: signal.Signals) -> None:
        forced = self._stopping.is_set()
        logger.warning(
            "Received %s: %s",
            signum.name,
            "forcing exit, unfinished items go back to the queue"
            if forced
            else f"finishing in-flight items (up to {self.grace_seconds:g} s)",
        )
        self.stop(force=forced)

    def _shutdown(self) -> int:
        give_up = time.monotonic() + self.grace_seconds
        while self._in_flight and not self._forced.is_set() and time.monotonic() < give_up:
            self._wakeup.wait(0.05)
            self._wakeup.clear()
            self._enforce_timeouts()
        with self._lock:
            unfinished = list(self._in_flight.values())
            for execution in unfinished:
                execution.settled = True
            self._in_flight.clear()
        if self._wakeup_source:
            self._wakeup_source.stop()
        exit_code = 0
        try:
            self._with_database_retries(self._flush, deadline_seconds=self.grace_seconds)
            released = self._with_database_retries(
                lambda: release_items(self.runner_id, [e.item.id for e in unfinished], self.using)
            )
            self._with_database_retries(
                lambda: (
                    RunnerRow.objects.using(self.using)
                    .filter(pk=self.runner_id)
                    .update(stopped_at=timezone.now())
                )
            )
        except OUTAGE_ERRORS as exc:
            logger.error(
                "Could not record the last outcomes (%s); recovery will requeue those items", exc
            )
            exit_code = 1
        else:
            if released:
                logger.warning("Put %d unfinished item(s) back in the queue", released)
        for _ in range(self._workers):
            self._work.put(None)
        self._stop_signals.restore()
        logger.info("Runner %s stopped", self.name)
        return exit_code
