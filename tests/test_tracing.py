"""Tracing (django_taskqueue/tracing/), read through the SDK's in-memory exporter.

Each test that wants spans gets its own SDK provider as the global one through
``monkeypatch`` on ``trace.get_tracer_provider``, not ``trace.set_tracer_provider``: that one
takes once per process, and would leave every later test of the session traced. Elsewhere,
no provider is set, so the queue does not trace.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.utils import timezone
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from django_taskqueue import (
    DuplicateItem,
    chain,
    enqueue_by_alias,
    enqueue_many,
    enqueue_workflow,
    handler,
    tracing,
)
from django_taskqueue.execution import DefinitionInfo
from django_taskqueue.models import QueueItem
from django_taskqueue.registry import unregister
from django_taskqueue.runner.pool import WorkerPool
from django_taskqueue.store import ClaimedItem, QueueStore
from django_taskqueue.tracing import switch
from tests.conftest import drain, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def use_provider(monkeypatch: pytest.MonkeyPatch, provider: trace.TracerProvider) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_provider(monkeypatch, provider)
    return exporter


def spans_of(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind == kind]


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def stored_contexts(ids: Sequence[int]) -> list[Any]:
    rows = QueueItem.all_objects.filter(pk__in=ids).order_by("pk")
    return list(rows.values_list("trace_context", flat=True))


# ---------------------------------------------------------------------- producer spans


def test_enqueue_is_a_producer_span_whose_context_the_item_keeps(exporter) -> None:
    item = enqueue_by_alias("Record", {"value": 1})  # the queue comes from the definition

    (send,) = spans_of(exporter, SpanKind.PRODUCER)
    assert send.name == "send tests"
    assert send.attributes == {
        "messaging.system": "django_taskqueue",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "tests",
        "messaging.message.id": str(item.pk),
        "messaging.django_taskqueue.alias": "Record",
    }
    assert send.status.status_code == StatusCode.UNSET
    assert stored_contexts([item.pk]) == [{"traceparent": traceparent_of(send)}]


def test_enqueue_many_is_one_span_for_the_batch(exporter) -> None:
    ids = enqueue_many("Record", [{"value": n} for n in range(3)], queue_name="tests")

    (send,) = spans_of(exporter, SpanKind.PRODUCER)
    assert send.name == "send tests"
    assert send.attributes["messaging.batch.message_count"] == 3
    assert "messaging.message.id" not in send.attributes
    assert stored_contexts(ids) == [{"traceparent": traceparent_of(send)}] * 3


def test_a_workflow_is_one_span_for_all_its_steps(exporter) -> None:
    workflow = enqueue_workflow(chain(("Record", {"value": 1}), ("Record", {"value": 2})))

    (send,) = spans_of(exporter, SpanKind.PRODUCER)
    assert send.name == "send tests"
    assert send.attributes["messaging.batch.message_count"] == 2
    steps = list(workflow.items.values_list("pk", flat=True))
    assert stored_contexts(steps) == [{"traceparent": traceparent_of(send)}] * 2


def test_a_refused_enqueue_ends_its_span_with_the_error(exporter) -> None:
    enqueue_by_alias("Record", unique_key="once")
    with pytest.raises(DuplicateItem):
        enqueue_by_alias("Record", unique_key="once", on_duplicate="raise")

    _, refused = spans_of(exporter, SpanKind.PRODUCER)
    assert refused.attributes["error.type"] == "django_taskqueue.exceptions.DuplicateItem"
    assert refused.status.status_code == StatusCode.ERROR


# ---------------------------------------------------------------------- consumer spans


def test_each_attempt_is_a_consumer_span_linked_to_the_enqueue(exporter) -> None:
    item = enqueue_by_alias("Record", {"value": 1})
    drain()

    (send,) = spans_of(exporter, SpanKind.PRODUCER)
    (process,) = spans_of(exporter, SpanKind.CONSUMER)
    assert process.name == "process tests"
    assert process.attributes == {
        "messaging.system": "django_taskqueue",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "tests",
        "messaging.message.id": str(item.pk),
        "messaging.django_taskqueue.alias": "Record",
        "messaging.django_taskqueue.attempt": 1,
        "messaging.django_taskqueue.max_attempts": 1,
        "messaging.django_taskqueue.outcome": "success",
    }
    assert process.status.status_code == StatusCode.UNSET
    # A child of the enqueue's span, in its trace, and linked to it.
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id
    (link,) = process.links
    assert link.context.span_id == send.context.span_id


def test_a_failing_attempt_says_what_it_raised(exporter) -> None:
    enqueue_by_alias("AlwaysFails")  # two attempts: a retry, then the end
    drain()

    attempts = sorted(
        spans_of(exporter, SpanKind.CONSUMER),
        key=lambda span: span.attributes["messaging.django_taskqueue.attempt"],
    )
    assert [span.attributes["messaging.django_taskqueue.outcome"] for span in attempts] == [
        "retry",
        "failed",
    ]
    for span in attempts:
        assert span.attributes["error.type"] == "builtins.ValueError"
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == "this handler always fails"
        assert [event.name for event in span.events] == ["exception"]


def test_a_timed_out_attempt_is_ended_by_the_runner_with_the_timeout(exporter) -> None:
    enqueue_by_alias("Sleeper", {"seconds": 5})
    drain()

    (process,) = spans_of(exporter, SpanKind.CONSUMER)
    assert process.attributes["messaging.django_taskqueue.outcome"] == "timeout"
    assert process.attributes["error.type"] == "django_taskqueue.exceptions.TaskTimeout"
    assert process.status.status_code == StatusCode.ERROR


def test_an_item_enqueued_untraced_is_an_attempt_without_a_link(exporter, settings) -> None:
    settings.TASKQUEUE = {**settings.TASKQUEUE, "TRACING": False}
    enqueue_by_alias("Record")
    settings.TASKQUEUE = {**settings.TASKQUEUE, "TRACING": True}
    drain()

    (process,) = exporter.get_finished_spans()
    assert process.parent is None
    assert process.links == ()


@pytest.fixture
def charging_handler() -> Iterator[str]:
    """A handler that makes a span of its own."""

    def charge() -> None:
        with trace.get_tracer("shop").start_as_current_span("charge card"):
            pass

    handler("TracedCharge", queue="tests", max_attempts=1)(charge)
    yield "TracedCharge"
    unregister("TracedCharge")


def test_spans_a_handler_makes_are_children_of_its_attempt(exporter, charging_handler) -> None:
    enqueue_by_alias(charging_handler)
    drain()

    (process,) = spans_of(exporter, SpanKind.CONSUMER)
    (charge,) = spans_of(exporter, SpanKind.INTERNAL)
    assert charge.parent is not None and charge.parent.span_id == process.context.span_id


HANGS = DefinitionInfo("HangsInC", None, 0.0, 0.0)


def test_an_attempt_released_at_shutdown_ends_as_released(exporter) -> None:
    pool = WorkerPool(1, lambda execution, outcome: None)
    pool.start()
    started = timezone.now()
    pool.submit(ClaimedItem(1, 1, "tests", '{"seconds": 0.3}', 1, 1, 0, started), HANGS)
    pool.submit(ClaimedItem(2, 1, "tests", "{}", 1, 1, 0, started), HANGS)  # waits behind #1
    wait_for(lambda: pool._in_flight[1].started)
    pool.take_unfinished()
    wait_for(lambda: exporter.get_finished_spans())
    pool.stop()

    (process,) = exporter.get_finished_spans()  # #2 never started: no span
    assert process.attributes["messaging.message.id"] == "1"
    assert process.attributes["messaging.django_taskqueue.outcome"] == "released"
    assert process.status.status_code == StatusCode.UNSET


# ---------------------------------------------------------------------- tracing off


@pytest.fixture
def trace_statements(monkeypatch) -> list[str]:
    """The store's trace-context statements made during the test, by name."""
    made: list[str] = []
    for name in ("set_trace_context", "trace_contexts"):
        method = getattr(QueueStore, name)

        def spy(store, *args, _name=name, _method=method):
            made.append(_name)
            return _method(store, *args)

        monkeypatch.setattr(QueueStore, name, spy)
    return made


def test_on_means_one_statement_each_side(exporter, trace_statements) -> None:
    enqueue_many("Record", [{}, {}])
    drain()
    assert trace_statements == ["set_trace_context", "trace_contexts"]


@pytest.mark.parametrize("turned_off_by", ["no extra", "the setting"])
def test_off_means_no_span_and_no_statement(
    exporter, trace_statements, monkeypatch, settings, turned_off_by
) -> None:
    if turned_off_by == "no extra":
        monkeypatch.setattr(switch, "_opentelemetry", lambda: None)
        monkeypatch.setattr(switch, "_enabled", None)  # as in a process without the extra
    else:
        settings.TASKQUEUE = {**settings.TASKQUEUE, "TRACING": False}
    assert not tracing.active()
    item = enqueue_by_alias("Record")
    ids = enqueue_many("Record", [{}, {}])
    drain()

    assert exporter.get_finished_spans() == ()
    assert trace_statements == []
    assert stored_contexts([item.pk, *ids]) == [None, None, None]


def test_no_provider_set_means_tracing_is_off() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert not tracing.active()


# ---------------------------------------------------------------------- broken tracers


class BrokenProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        raise RuntimeError("no tracer today")


class BrokenSpan:
    """A span every method of which raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"span.{name} is broken")


class BrokenSpansProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return BrokenSpansTracer()


class BrokenSpansTracer(trace.NoOpTracer):
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        return BrokenSpan()


class RefusingTracer(trace.NoOpTracer):
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no spans today")


class RefusingProvider(trace.TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return RefusingTracer()


class FailingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise RuntimeError("the collector is down")


def failing_export() -> trace.TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(FailingExporter()))
    return provider


@pytest.mark.parametrize(
    "provider", [BrokenProvider, RefusingProvider, BrokenSpansProvider, failing_export]
)
def test_a_broken_tracer_breaks_neither_enqueue_nor_runner(monkeypatch, caplog, provider) -> None:
    use_provider(monkeypatch, provider())
    monkeypatch.setattr(switch, "_warned", set())
    caplog.set_level(logging.DEBUG)

    item = enqueue_by_alias("Record", {"value": 1})
    ids = enqueue_many("Record", [{"value": 2}])
    failing = enqueue_by_alias("AlwaysFails")
    drain()

    assert QueueItem.objects.filter(pk__in=[item.pk, *ids], status="success").count() == 2
    assert QueueItem.objects.get(pk=failing.pk).status == "failed"
    if provider is not failing_export:  # the SDK reports its exporter's failures itself
        assert any("Tracing: could not" in record.message for record in caplog.records)
