"""django-taskqueue: a durable, database-backed task queue for Django.

The public API is re-exported here lazily, so importing the package does not import models
before Django's app registry is ready.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "handler": "registry",
    "enqueue_by_alias": "enqueue",
    "enqueue_many": "enqueue",
    "queue_stats": "stats",
    "current_task": "context",
    "TaskQueueError": "exceptions",
    "UnknownAlias": "exceptions",
    "InactiveDefinition": "exceptions",
    "InvalidParameters": "exceptions",
    "InvalidName": "exceptions",
    "InvalidTransition": "exceptions",
    "HandlerNotFound": "exceptions",
    "TaskCanceled": "exceptions",
    "TaskTimeout": "exceptions",
    "TaskInterrupt": "exceptions",
    "InvalidValue": "exceptions",
    "Snooze": "exceptions",
    "DuplicateItem": "exceptions",
    "chain": "workflows",
    "group": "workflows",
    "enqueue_workflow": "workflows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'django_taskqueue' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module_name}"), name)
