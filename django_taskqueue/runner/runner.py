"""The runner: a short coordinator over the pool, the outcome buffer and the duties.

One main thread talks to the database for claims, outcomes and duties; worker threads only
run handlers. That keeps the hot path at two statements per batch whatever the concurrency,
and lets the main thread enforce timeouts and shut down without waiting on a handler that
never returns.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta

from django.db import reset_queries, transaction
from django.utils import timezone

from .. import tracing
from ..exceptions import InvalidValue
from ..schedules.duty import ScheduleDuty
from ..store import OUTAGE_ERRORS, ClaimedItem, Outcome, get_store
from ..validation import validate_name
from .definitions import REFRESH_SECONDS, DefinitionCache
from .duties import Duties, Duty, housekeeping_duties
from .options import RunnerOptions
from .outage import OutageBackoff
from .outcomes import OutcomeBuffer
from .pool import Execution, WorkerPool
from .reports import advise, report_burst, warn_about_queues
from .stop_signals import StopSignals
from .wakeup import NotificationListener, SqliteChangeWatcher, start_wakeup_source

logger = logging.getLogger("django_taskqueue.runner")

# A burst waits for items a rate limit holds back if they will have room within this.
BURST_WAITS_FOR = timedelta(minutes=1)


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
        using: str | None = None,
        schedules: bool = True,
    ) -> None:
        self.queues = [validate_name(q, "queue name") for q in queues]
        if not self.queues:
            raise InvalidValue("A runner needs at least one queue name.")
        options = RunnerOptions.checked(concurrency, interval, unstuck_minutes, grace_seconds)
        self.concurrency = options.concurrency
        self.interval = options.interval
        self.unstuck_minutes = options.unstuck_minutes
        self.heartbeat_seconds = options.heartbeat_seconds
        self.grace_seconds = options.grace_seconds
        self.burst = burst
        self.store = get_store(using)
        self.using = self.store.using
        self.runner_id = uuid.uuid4().hex
        self.name = f"{socket.gethostname()}:{os.getpid()}"

        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._forced = threading.Event()
        self._outcomes = OutcomeBuffer()
        self._pool = WorkerPool(self.concurrency, self._on_settled, self.using)
        self._definitions = DefinitionCache(self.store)
        self._outage = OutageBackoff(self.using, self._stopping)
        self._stop_signals = StopSignals(self._on_stop_signal)
        self._wakeup_source: NotificationListener | SqliteChangeWatcher | None = None
        self._paused: set[str] = set()
        self._attempts_run: Counter[str] = Counter()  # by attempt outcome, for a burst's report
        self._last_claim_full = False
        self._room_at: datetime | None = None  # when a rate limit holding items back has room
        self._last_heartbeat = time.monotonic()
        self._recover_after = 0.0  # no recovery of others' items before this monotonic time
        self._schedules = ScheduleDuty(self.using) if schedules else None
        beat = self.heartbeat_seconds
        self._duties = Duties(
            Duty("heartbeat", beat, self._heartbeat),
            Duty("pause refresh", beat, self._refresh_paused),
            Duty("cancel requests", beat, self._check_cancel_requests),
            Duty("recovery", beat, self._recover),
            # Never more often than the heartbeat: an idle runner wakes for nothing else.
            Duty("definition refresh", max(REFRESH_SECONDS, beat), self._definitions.refresh),
            *housekeeping_duties(self.using, self._schedules),
        )

    # ------------------------------------------------------------------ public
    def run(self) -> int:
        """Run until stopped (or drained, with ``burst``); return the process exit code."""
        self._stop_signals.install()
        try:
            host, pid = self.name.rsplit(":", 1)
            self._outage.retrying(
                lambda: self.store.register_runner(
                    self.runner_id, host, int(pid), self.queues, self.concurrency
                )
            )
            if self._schedules:
                self._outage.retrying(self._schedules.sync)
            self._pool.start()
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
        advise(lambda: warn_about_queues(self.store, self.queues))
        while not self._stopping.is_set():
            try:
                self._tick()
                # Django clears the DEBUG query log per request; a runner never finishes one.
                reset_queries()
                self._outage.back()
            except OUTAGE_ERRORS as exc:
                self._outage.down(exc)
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
        exit_code = self._shutdown()
        if self.burst and not exit_code:
            advise(lambda: report_burst(self.store, self.queues, self._attempts_run))
        return exit_code

    def stop(self, force: bool = False) -> None:
        if self._stopping.is_set() or force:
            self._forced.set()
        self._stopping.set()
        self._wakeup.set()

    # ------------------------------------------------------------------ main loop
    def _tick(self) -> None:
        self._duties.run_due()
        self._pool.enforce_timeouts()
        limit = 0 if self._stopping.is_set() else self._pool.free_slots()
        flush = self._outcomes.flush_due(items_in_flight=bool(self._pool.busy))
        if not flush and not limit:
            self._last_claim_full = False
            return
        queues = [q for q in self.queues if q not in self._paused]
        with self._outcomes.taking(flush) as outcomes:
            batch = self._record_and_claim(outcomes, queues, limit)
        self._last_claim_full = bool(limit) and len(batch) == limit

    def _record_and_claim(self, outcomes: list[Outcome], queues: list[str], limit: int) -> list:
        """Write ``outcomes``, claim up to ``limit`` items of ``queues`` and hand them to the
        pool; return the claimed items.

        One transaction: one commit (one fsync) per batch, and the definitions the batch
        needs are read inside it, so an outage rolls the claim back instead of leaving items
        claimed by nobody. If the database refuses a value of some outcome, the outcomes are
        written one at a time instead, so that only its own item is affected.
        """
        try:
            with transaction.atomic(using=self.using):
                self.store.record_outcomes(outcomes, self.runner_id, self.name)
                batch, definitions = self._claim(queues, limit)
        except OUTAGE_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - a value in the batch was refused
            self.store.record_outcomes_one_by_one(outcomes, self.runner_id, self.name)
            with transaction.atomic(using=self.using):
                batch, definitions = self._claim(queues, limit)
        del outcomes[:]  # written: nothing to put back
        tracing.read_trace_contexts(self.store, batch)
        for item in batch:
            self._pool.submit(item, definitions[item.definition_id])
        return batch

    def _claim(self, queues: list[str], limit: int) -> tuple[list[ClaimedItem], dict]:
        rules = self._definitions.flow_rules()
        claim = self.store.claim_within_limits(
            queues, limit, self.runner_id, timezone.now(), rules, self._pool.idle_workers()
        )
        self._room_at = claim.room_at
        if claim.stale:  # a definition newer than the rules: read them again, claim again
            self._definitions.refresh()
            self._room_at = timezone.now()
        return claim.items, self._definitions.get({item.definition_id for item in claim.items})

    def _on_settled(self, execution: Execution, outcome: Outcome) -> None:
        self._outcomes.add(outcome)
        self._attempts_run[outcome.attempt_outcome] += 1
        self._wakeup.set()

    def _next_wait(self) -> float:
        if self._last_claim_full and not self._stopping.is_set():
            return 0
        waits = [self.interval, self._duties.seconds_until_next()]
        flush_in = self._outcomes.seconds_until_due()
        if flush_in is not None:
            waits.append(flush_in)
        deadline = self._pool.next_deadline()
        if deadline is not None:
            waits.append(max(deadline - time.monotonic(), 0))
        if self._room_at is not None:
            waits.append(max((self._room_at - timezone.now()).total_seconds(), 0))
        return min(waits)

    def _drained(self) -> bool:
        """Nothing in hand, and nothing a rate limit holds back for under a minute."""
        held_back = self._room_at is not None and self._room_at < timezone.now() + BURST_WAITS_FOR
        return not (self._pool.busy or len(self._outcomes) or self._last_claim_full or held_back)

    # ------------------------------------------------------------------ duties
    def _heartbeat(self) -> None:
        self.store.heartbeat(self.runner_id)
        beat = time.monotonic()
        if beat - self._last_heartbeat > 2 * self.heartbeat_seconds:
            # We could not heartbeat for a while (a database outage or stall), and neither,
            # probably, could the other runners. Recovering now would take the items of runners
            # that are alive but have not heartbeaten again yet: give them two chances first.
            self._recover_after = beat + 2 * self.heartbeat_seconds
        self._last_heartbeat = beat

    def _refresh_paused(self) -> None:
        self._paused = self.store.paused_queues(self.queues)

    def _check_cancel_requests(self) -> None:
        if self._pool.busy:
            self._pool.cancel(self.store.cancel_requests(self.runner_id))

    def _recover(self) -> None:
        if time.monotonic() >= self._recover_after:
            self.store.recover_stuck(self.unstuck_minutes)
        self.store.prune_starts()

    # ------------------------------------------------------------------ start and stop
    def _abandon_start(self) -> None:
        """Undo a start that failed part way: no live-looking Runner row, signals restored."""
        self._stop_signals.restore()
        try:
            self.store.mark_runner_stopped(self.runner_id)
        except Exception:  # noqa: BLE001 - the start's own error is the one to report
            logger.exception("Could not mark runner %s stopped", self.name)

    def _on_stop_signal(self, signum: signal.Signals) -> None:
        forced = self._stopping.is_set()
        then = f"finishing in-flight items (up to {self.grace_seconds:g} s)"
        if forced:
            then = "forcing exit, unfinished items go back to the queue"
        logger.warning("Received %s: %s", signum.name, then)
        self.stop(force=forced)

    def _shutdown(self) -> int:
        give_up = time.monotonic() + self.grace_seconds
        while self._pool.busy and not self._forced.is_set() and time.monotonic() < give_up:
            self._wakeup.wait(0.05)
            self._wakeup.clear()
            self._pool.enforce_timeouts()
        unfinished = [item.id for item in self._pool.take_unfinished()]
        if self._wakeup_source:
            self._wakeup_source.stop()
        exit_code = 0
        try:
            self._outage.retrying(self._flush, deadline_seconds=self.grace_seconds)
            released = self._outage.retrying(lambda: self.store.release(self.runner_id, unfinished))
            self._outage.retrying(lambda: self.store.mark_runner_stopped(self.runner_id))
        except OUTAGE_ERRORS as exc:
            logger.error(
                "Could not record the last outcomes (%s); recovery will requeue those items", exc
            )
            exit_code = 1
        else:
            if released:
                logger.warning("Put %d unfinished item(s) back in the queue", released)
        self._pool.stop()
        self._stop_signals.restore()
        if self._wakeup_source:  # its connection closes within a fraction of a second
            self._wakeup_source.join(timeout=1.0)
        logger.info("Runner %s stopped", self.name)
        return exit_code

    def _flush(self) -> None:
        with self._outcomes.taking() as outcomes:
            self._record_and_claim(outcomes, [], 0)
