"""The producer side: one ``send`` span per enqueue call, and its context stored with the
items it wrote.

``enqueue.py`` and ``workflows.py`` open the span around their inserts; ``inserts.py``, the
one insert path, tells it of each row written (through a context variable, so the insert's
signature does not change for it); as the span ends, one UPDATE stores its context with
them, in the enqueue's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import transaction

from ..store.records import class_path
from .switch import OFF, OWN, made_current, operation, report, tracer

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from ..store import QueueStore


class _Send:
    """The producer span of one enqueue call, and the rows its inserts wrote."""

    def __init__(self, span: Span | None, batch: bool) -> None:
        self.span = span
        self.batch = batch
        self.ids: list[int] = []
        self.queues: set[str] = set()

    def carrier(self) -> dict[str, str]:
        """The span's context as the global propagator writes it (W3C ``traceparent``)."""
        if self.span is None:
            return {}
        try:
            from opentelemetry import propagate, trace

            if not self.span.get_span_context().is_valid:
                return {}
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(self.span))
            return carrier
        except Exception:  # noqa: BLE001
            report("write the trace context")
            return {}

    def finish(self, error: BaseException | None) -> None:
        if self.span is None:
            return
        try:
            from opentelemetry.trace import StatusCode

            if len(self.queues) == 1:  # a workflow may go to several: then it names none
                (queue,) = self.queues
                self.span.update_name(f"send {queue}")
                self.span.set_attribute("messaging.destination.name", queue)
            if self.batch:
                self.span.set_attribute("messaging.batch.message_count", len(self.ids))
            elif len(self.ids) == 1:
                self.span.set_attribute("messaging.message.id", str(self.ids[0]))
            if error is not None:
                self.span.set_attribute("error.type", class_path(type(error)))
                self.span.record_exception(error)
                self.span.set_status(StatusCode.ERROR, str(error)[:500])
            self.span.end()
        except Exception:  # noqa: BLE001
            report("end an enqueue's span")


_sending: ContextVar[_Send | None] = ContextVar("django_taskqueue_sending", default=None)


def sending(
    store: QueueStore, *, alias: str | None, queue_name: str | None, batch: bool = False
) -> AbstractContextManager[None]:
    """The PRODUCER span of the enqueue inside it (``batch``: of many items at once).

    With no transaction open it opens one, so the items and their trace context commit
    together and the span covers the commit; call it inside the caller's ``atomic()`` when
    there is one, so it adds no savepoint.
    """
    made_by = tracer()
    if made_by is None:
        return OFF
    return _traced_send(made_by, store, alias, queue_name, batch)


@contextmanager
def _traced_send(
    made_by: Tracer, store: QueueStore, alias: str | None, queue_name: str | None, batch: bool
) -> Iterator[None]:
    attributes = operation("send")
    if queue_name:
        attributes["messaging.destination.name"] = queue_name
    if alias:
        attributes[OWN + "alias"] = alias
    name = f"send {queue_name}" if queue_name else "send"  # named again once rows say where
    send = _Send(_started(made_by, name, attributes), batch)
    token = _sending.set(send)
    try:
        opened = store.connection.in_atomic_block
        with made_current(send.span), OFF if opened else transaction.atomic(using=store.using):
            yield
            carrier = send.carrier() if send.ids else {}
            if carrier:
                store.set_trace_context(send.ids, carrier)
    except BaseException as error:
        send.finish(error)
        raise
    else:
        send.finish(None)
    finally:
        _sending.reset(token)


def _started(made_by: Tracer, name: str, attributes: dict[str, Any]) -> Span | None:
    try:
        from opentelemetry.trace import SpanKind

        return made_by.start_span(name, kind=SpanKind.PRODUCER, attributes=attributes)
    except Exception:  # noqa: BLE001
        report("start an enqueue's span")
        return None


def inserted(rows: Sequence[tuple[Any, ...]]) -> None:
    """Note rows an insert wrote (``id, definition_id, queue_name, ...``) on the enqueue's
    span, if one is open; its trace context is written for them as it ends."""
    send = _sending.get()
    if send is not None:
        send.ids += [row[0] for row in rows]
        send.queues.update(row[2] for row in rows)
