"""Whether to trace, the tracer to trace with, and what both sides of a trace share.

OpenTelemetry is imported on first use, and the answer to "is tracing on" is one cached
boolean, read again when Django's ``setting_changed`` names ``TASKQUEUE`` (as
``override_settings`` does), so an untraced queue pays nothing it can measure.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from ..conf import app_settings

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

logger = logging.getLogger("django_taskqueue.tracing")

SYSTEM = "django_taskqueue"  # messaging.system, and the instrumentation scope's name
OWN = f"messaging.{SYSTEM}."  # the namespace the conventions give a system's own attributes

OFF: AbstractContextManager[None] = nullcontext()
_warned: set[str] = set()


@functools.cache
def _opentelemetry() -> ModuleType | None:
    """``opentelemetry.trace``, imported on first use; None without the extra."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


_enabled: bool | None = None  # the extra is there and TASKQUEUE["TRACING"] on; None: not read


@receiver(setting_changed)
def _read_settings_again(*, setting: str, **kwargs: Any) -> None:
    global _enabled
    if setting == "TASKQUEUE":
        _enabled = None


def _provider() -> Any:
    """The tracer provider to use now, or None when tracing is off."""
    global _enabled
    if _enabled is None:
        _enabled = bool(app_settings.TRACING) and _opentelemetry() is not None
    if not _enabled:
        return None
    trace = _opentelemetry()
    assert trace is not None
    provider = trace.get_tracer_provider()
    # The API's stand-ins until an SDK is configured: every span would be dropped.
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    return provider


def active() -> bool:
    return _provider() is not None


_last_tracer: tuple[Any, Tracer] | None = None  # (provider, its tracer): a tracer costs 7 µs


def tracer() -> Tracer | None:
    """The tracer to make spans with now; None when tracing is off (or the provider broke)."""
    global _last_tracer
    provider = _provider()
    if provider is None:
        return None
    last = _last_tracer
    if last is not None and last[0] is provider:
        return last[1]
    try:
        made = provider.get_tracer(SYSTEM)
    except Exception:  # noqa: BLE001 - a broken provider costs spans, nothing else
        report("get a tracer")
        return None
    _last_tracer = (provider, made)
    return made


def report(what: str) -> None:
    """Log a tracer's failure: with its traceback the first time, at DEBUG afterwards."""
    if what in _warned:
        logger.debug("Tracing: could not %s", what, exc_info=True)
        return
    _warned.add(what)
    logger.warning("Tracing: could not %s; the queue goes on without it", what, exc_info=True)


def operation(kind: str) -> dict[str, str]:
    """The attributes naming a messaging operation, ``send`` or ``process``."""
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.name": kind,
        "messaging.operation.type": kind,
    }


@contextmanager
def made_current(span: Span | None) -> Iterator[None]:
    """``span`` as the current span inside, so spans made meanwhile are its children."""
    token = None
    try:
        from opentelemetry import context, trace

        if span is not None:
            token = context.attach(trace.set_span_in_context(span))
    except Exception:  # noqa: BLE001
        report("make a span current")
    try:
        yield
    finally:
        if token is not None:
            try:
                context.detach(token)
            except Exception:  # noqa: BLE001
                report("leave a span")
