"""The consumer side: one ``process`` span per attempt, a child of the enqueue's span and
linked to it.

The runner reads the stored contexts of a claimed batch (``read_trace_contexts``); the
worker thread starts the span before the handler, and it is current while the handler runs;
whoever settles the attempt ends it with the outcome: the worker, or the runner's main
thread at a timeout's deadline (``runner/pool.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..store.records import ClaimedItem, Outcome
from .switch import OFF, OWN, active, made_current, operation, report, tracer

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from ..store import QueueStore

RELEASED = "released"  # the outcome of an attempt a stopping runner handed back unfinished
# Attempt outcomes that are errors; a cancel, a snooze or a release is not.
ERROR_OUTCOMES = frozenset({"failed", "retry", "timeout"})


def read_trace_contexts(store: QueueStore, items: Sequence[ClaimedItem]) -> None:
    """Give claimed items the trace context stored with them: one SELECT per claimed batch,
    made after the claim commits, and only while tracing is on. If it fails, the attempts
    are traced without their link; the items run regardless."""
    if not items or not active():
        return
    try:
        found = store.trace_contexts([item.id for item in items])
    except Exception:  # noqa: BLE001 - the next statement of the runner meets an outage
        report("read the trace contexts of claimed items")
        return
    for item in items:
        item.trace_context = found.get(item.id)


def start_attempt(item: ClaimedItem, alias: str) -> Span | None:
    """The CONSUMER span of one attempt, started now; None when tracing is off."""
    made_by = tracer()
    if made_by is None:
        return None
    try:
        from opentelemetry import propagate, trace
        from opentelemetry.context import Context

        carrier = item.trace_context if isinstance(item.trace_context, dict) else {}
        enqueued = propagate.extract(carrier, context=Context())
        producer = trace.get_current_span(enqueued).get_span_context()
        return made_by.start_span(
            f"process {item.queue_name}",
            context=enqueued,  # empty without a stored context: a root, not the thread's
            kind=trace.SpanKind.CONSUMER,
            links=[trace.Link(producer)] if producer.is_valid else [],
            attributes={
                **operation("process"),
                "messaging.destination.name": item.queue_name,
                "messaging.message.id": str(item.id),
                OWN + "alias": alias,
                OWN + "attempt": item.attempts,
                OWN + "max_attempts": item.max_attempts,
            },
        )
    except Exception:  # noqa: BLE001
        report("start an attempt's span")
        return None


def current(span: Span | None) -> AbstractContextManager[None]:
    """``span`` as the current span inside, so the handler's own spans are its children."""
    return OFF if span is None else made_current(span)


def end_attempt(span: Span, outcome: Outcome | None) -> None:
    """End an attempt's span with its outcome; None: released unfinished at shutdown."""
    try:
        from opentelemetry.trace import StatusCode

        span.set_attribute(OWN + "outcome", outcome.attempt_outcome if outcome else RELEASED)
        if outcome is not None and outcome.attempt_outcome in ERROR_OUTCOMES:
            failure = outcome.failure
            span.set_attribute("error.type", failure.class_path if failure else "_OTHER")
            if outcome.exception is not None:
                span.record_exception(outcome.exception)
            span.set_status(StatusCode.ERROR, failure.message[:500] if failure else None)
        span.end()
    except Exception:  # noqa: BLE001
        report("end an attempt's span")
