"""Task definitions, queue items and their attempt history, runners and queue switches.

Query logic lives on the QuerySets; every change of state goes through the store
(``django_taskqueue.store``), so it is one guarded statement however many rows it touches.
"""

from .definitions import TaskDefinition
from .items import QueueItem, QueueItemAttempt
from .runners import LimitStart, QueueState, Runner

__all__ = ["LimitStart", "QueueItem", "QueueItemAttempt", "QueueState", "Runner", "TaskDefinition"]
