"""Telling a lost deadlock from an outage: the one is retried at once, the other waited out."""

from __future__ import annotations

# PostgreSQL's "deadlock detected": of two transactions waiting for each other's row locks
# (a runner settling a workflow, an operator canceling it), it aborts one.
DEADLOCK_DETECTED = "40P01"


def is_deadlock(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED
