"""Task definitions, queue items and their attempt history, runners, queue switches and
schedules.

Query logic lives on the QuerySets; every change of state goes through the store
(``django_taskqueue.store``), so it is one guarded statement however many rows it touches.
"""

from .attempts import QueueItemAttempt
from .definitions import TaskDefinition
from .items import QueueItem
from .runners import LimitStart, QueueState, Runner
from .schedules import Schedule
from .webhooks import WebhookDelivery
from .workflows import ItemDependency, Workflow

__all__ = [
    "ItemDependency",
    "LimitStart",
    "QueueItem",
    "QueueItemAttempt",
    "QueueState",
    "Runner",
    "Schedule",
    "TaskDefinition",
    "WebhookDelivery",
    "Workflow",
]
