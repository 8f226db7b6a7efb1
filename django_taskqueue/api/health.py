"""``GET /health``: whether the queue is doing its work, in a form probes understand.

``ok`` answers 200; ``degraded`` answers 503 with the reasons in ``problems``, so a load
balancer or a Kubernetes probe needs no parsing. Degraded means one of:

- no runner has heartbeaten within ``3 × RUNNER_HEARTBEAT_SECONDS``;
- a runner is stale: it has missed its heartbeats but is not yet declared dead (its items are
  recovered only after ``RUNNER_UNSTUCK_MINUTES``);
- running items belong to runners that stopped heartbeating (stuck);
- a queue that is not paused has due items waiting longer than ``HEALTH_MAX_WAIT_SECONDS``
  and no live runner serves it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..conf import app_settings
from ..models import QueueItem, Runner
from ..stats import QueueOverview, queue_overview
from ..store import get_store


def health_report() -> dict[str, Any]:
    store = get_store()
    now = timezone.now()
    queues = queue_overview()
    runners = store.live_runners()
    problems: list[str] = []
    if not runners:
        problems.append("No runner has sent a heartbeat recently.")
    stale = store.stale_runners(
        live_after=now - timedelta(seconds=app_settings.RUNNER_HEARTBEAT_SECONDS * 3),
        dead_before=now - timedelta(minutes=app_settings.RUNNER_UNSTUCK_MINUTES),
    )
    problems += [_stale(runner, now) for runner in stale]
    stuck = sum(queue.stuck for queue in queues)
    if stuck:
        problems.append(f"{stuck} running item(s) belong to runners that stopped heartbeating.")
    served = set().union(*(runner.queues for runner in runners))
    limit = app_settings.HEALTH_MAX_WAIT_SECONDS
    for queue in queues:
        waited = queue.oldest_queued_age_seconds
        if waited is not None and waited > limit and not queue.paused and queue.name not in served:
            problems.append(
                f"Queue {queue.name!r}: the oldest due item has waited {waited:.0f} s (more than "
                f"HEALTH_MAX_WAIT_SECONDS, {limit:g} s) and no live runner serves the queue."
            )
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "live_runners": len(runners),
        "queues": {queue.name: _queue(queue) for queue in queues},
    }


def _stale(runner: Runner, now: datetime) -> str:
    silent = (now - runner.heartbeat_at).total_seconds()
    return (
        f"Runner {runner} has not sent a heartbeat for {silent:.0f} s; its running items "
        f"are recovered after {app_settings.RUNNER_UNSTUCK_MINUTES:g} min of silence."
    )


def _queue(queue: QueueOverview) -> dict[str, Any]:
    return {
        "depth": queue.counts[QueueItem.Status.QUEUED],
        "running": queue.counts[QueueItem.Status.RUNNING],
        "stuck": queue.stuck,
        "paused": queue.paused,
        "oldest_queued_age_seconds": queue.oldest_queued_age_seconds,
    }
