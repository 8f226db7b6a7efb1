"""What a runner says when its work does not add up: at start-up, and at the end of a burst.

At start-up, a queue the runner serves that no definition or handler sends work to (a typo,
often), definitions on its queues that have no handler in this process (their items would
fail), and handlers whose queue no live runner serves (their items would wait forever). After
``--burst``, what it ran, and what it left: items due later, paused queues.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from django.utils import timezone

from ..conf import app_settings
from ..registry import all_specs
from ..store import QueueStore
from ..webhooks.payloads import WEBHOOK_ALIAS

logger = logging.getLogger("django_taskqueue.runner")

# Django tasks name their queue per task, not per handler: the queue of their internal
# definitions ("django.tasks", and "django.tasks.<path>" for tasks with options of their own)
# says nothing about where they go.
PER_TASK_QUEUE_ALIAS = "django.tasks"


def _per_task_queue(alias: str) -> bool:
    return alias == PER_TASK_QUEUE_ALIAS or alias.startswith(f"{PER_TASK_QUEUE_ALIAS}.")


def warn_about_queues(store: QueueStore, queues: Sequence[str]) -> None:
    handlers = {
        spec.alias: spec.queue or app_settings.DEFAULT_QUEUE
        for spec in all_specs()
        if not _per_task_queue(spec.alias)
    }
    defined = {
        alias: queue
        for alias, queue in store.active_definition_queues().items()
        if not _per_task_queue(alias)
    }
    sends_to = {**handlers, **defined}  # a definition row, which operators edit, wins
    for queue in queues:
        aliases = sorted(alias for alias, target in sends_to.items() if target == queue)
        if not aliases:
            logger.warning(
                "Queue %r has no task definition or handler that sends work to it: this runner "
                "will run only items enqueued there by name (a typo in the queue name?)",
                queue,
            )
        homeless = [alias for alias in aliases if alias not in handlers]
        if homeless:
            logger.warning(
                "Queue %r has definition(s) with no handler in this process: %s; their items "
                "will fail with HandlerNotFound here",
                queue,
                ", ".join(homeless),
            )
    served = set(queues).union(*(runner.queues for runner in store.live_runners()))
    unserved = sorted(
        (queue, alias)
        for alias, queue in sends_to.items()
        if alias in handlers and queue not in served
        # The built-in delivery handler is everyone's: it counts once webhooks are in use.
        and (alias != WEBHOOK_ALIAS or alias in defined)
    )
    if unserved:
        logger.warning(
            "No live runner serves the queue(s) of these handler(s), so their items wait: %s",
            ", ".join(f"{alias} (queue {queue!r})" for queue, alias in unserved),
        )


def report_burst(store: QueueStore, queues: Sequence[str], outcomes: Counter[str]) -> None:
    ran = sum(outcomes.values())
    done = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    parts = [f"ran {ran} attempt(s)" + (f" ({done})" if done else ", nothing was due")]
    later = store.waiting_later(queues, timezone.now())
    if later:
        parts.append(
            "left for later: "
            + ", ".join(f"{count} on {queue!r}" for queue, count in sorted(later.items()))
        )
    paused = sorted(store.paused_queues(queues))
    if paused:
        parts.append(f"paused, not claimed from: {', '.join(map(repr, paused))}")
    logger.info("Burst finished on queue(s) %s: %s", ", ".join(queues), "; ".join(parts))


def advise(advice: Callable[[], None]) -> None:
    """Give a report or a warning; failing to is never a reason to stop a runner."""
    try:
        advice()
    except Exception:  # noqa: BLE001 - advice is never a reason to stop
        logger.exception("Could not check this runner's queues")
