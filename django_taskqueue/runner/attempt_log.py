"""One log record per attempt, at the level an operator acts on.

A success is INFO, a failure that will be retried is WARNING, a failure that ends the item is
ERROR with the handler's traceback as ``exc_info`` (so Sentry and other error trackers get the
exception itself). Every record carries the facts as ``extra`` fields, which a JSON formatter
turns into fields of its own: ``item_id``, ``alias``, ``queue``, ``attempt``,
``max_attempts``, ``outcome`` and ``duration_ms``.
"""

from __future__ import annotations

import logging

from ..store import ClaimedItem, Outcome
from ..validation import storable_text

logger = logging.getLogger("django_taskqueue.runner")


def log_attempt(alias: str, item: ClaimedItem, outcome: Outcome, seconds: float) -> None:
    facts = {
        "item_id": item.id,
        "alias": alias,
        "queue": item.queue_name,
        "attempt": item.attempts,
        "max_attempts": item.max_attempts,
        "outcome": outcome.attempt_outcome,
        "duration_ms": round(seconds * 1000, 1),
    }
    head = f"{alias} #{item.id} attempt {item.attempts}/{item.max_attempts}"
    failure = outcome.failure
    if outcome.status in ("success", "canceled") or failure is None:
        logger.info("%s %s in %.1f ms", head, outcome.attempt_outcome, seconds * 1000, extra=facts)
        return
    # Text a log stream cannot encode (lone surrogates) would end in "--- Logging error ---".
    error, _ = storable_text(f"{_short(failure.class_path)}: {failure.message}"[:2000])
    error = error.rstrip(": ")
    if outcome.status == "queued" and outcome.retry_at is not None:
        wait = (outcome.retry_at - outcome.finished_at).total_seconds()
        logger.warning(
            "%s failed in %.1f ms, retry in %s: %s",
            head,
            seconds * 1000,
            _seconds(wait),
            error,
            extra=facts,
        )
        return
    exception = outcome.exception if not storable_text(failure.traceback)[1] else None
    logger.error(
        "%s failed in %.1f ms, %s: %s",
        head,
        seconds * 1000,
        "no attempts left" if item.attempts >= item.max_attempts else "not retried",
        error,
        exc_info=(type(exception), exception, exception.__traceback__) if exception else None,
        extra=facts,
    )


def _short(class_path: str) -> str:
    return class_path.removeprefix("builtins.")


def _seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
