"""OpenTelemetry spans for enqueues and attempts: the ``otel`` extra (docs/tracing.md).

An enqueue call is a PRODUCER span ``send <queue>`` (``enqueues.py``); each attempt a
CONSUMER span ``process <queue>`` in the worker thread that runs it (``attempts.py``), with
the enqueue's context, stored with the item, as both its parent and its link. Attribute
names follow OpenTelemetry's messaging conventions; what only this queue has goes under
``messaging.django_taskqueue.*``.

Two promises shape the package. Without the extra, or with ``TASKQUEUE["TRACING"]`` False,
every hook returns after one cached boolean; with the extra but no tracer provider set, after
a look at the global provider too: no span, no statement (``switch.py``). And nothing a
tracer does may fail an enqueue or an attempt: every call into OpenTelemetry is guarded, and
its failure is logged (once with its traceback, then quietly) and costs the span only. The
statements are the store's (``store/tracecontexts.py``); their errors are the database's and
propagate.
"""

from .attempts import current, end_attempt, read_trace_contexts, start_attempt
from .enqueues import inserted, sending
from .switch import active

__all__ = [
    "active",
    "current",
    "end_attempt",
    "inserted",
    "read_trace_contexts",
    "sending",
    "start_attempt",
]
