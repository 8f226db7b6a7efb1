"""Periodic duties of a runner, each with its own interval.

Heartbeat, pause refresh, cancel checks, recovery of dead runners' items and the definition
cache each run on their own clock, and so do firing schedules (which says when the next
fire time is, to run again then) and pruning finished items past their retention.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..schedules.duty import REFRESH_SECONDS as SCHEDULES_REFRESH
from ..schedules.duty import ScheduleDuty
from .pruning import PruneDuty

SCHEDULES_RETRY_SECONDS = 1.0


@dataclass
class Duty:
    name: str
    interval: float  # seconds between two runs
    # Returns None, or the seconds until it wants to run again if sooner than its interval.
    action: Callable[[], float | None]
    next_at: float = 0.0  # monotonic time it is next due; 0: at the first tick
    # Seconds before another try after its action failed (an outage); None: its interval.
    retry_after: float | None = None


class Duties:
    def __init__(self, *duties: Duty) -> None:
        self.duties = list(duties)

    def run_due(self) -> None:
        """Run every duty that is due, each rescheduled before it runs, so a duty that fails
        (an outage) is retried after its interval (or its ``retry_after``), not on every
        tick."""
        for duty in self.duties:
            now = time.monotonic()
            if now >= duty.next_at:
                duty.next_at = now + duty.interval
                try:
                    sooner = duty.action()
                except BaseException:
                    if duty.retry_after is not None:
                        duty.next_at = min(duty.next_at, time.monotonic() + duty.retry_after)
                    raise
                if sooner is not None:
                    duty.next_at = min(duty.next_at, time.monotonic() + sooner)

    def seconds_until_next(self) -> float:
        if not self.duties:
            return float("inf")
        return max(min(duty.next_at for duty in self.duties) - time.monotonic(), 0.0)


def housekeeping_duties(using: str, schedules: ScheduleDuty | None) -> list[Duty]:
    """The duties on the queue's data as a whole: firing schedules (unless this runner does
    not), pruning (unless ``PRUNE_INTERVAL_SECONDS`` is 0)."""
    # Fire times are due every second for some schedules: after an outage, look again soon.
    duties = (
        [Duty("schedules", SCHEDULES_REFRESH, schedules, retry_after=SCHEDULES_RETRY_SECONDS)]
        if schedules
        else []
    )
    prune_every = PruneDuty.interval()
    if prune_every:
        duties.append(Duty("pruning", prune_every, PruneDuty(using)))
    return duties
