"""The operations console: queue items, task definitions, schedules, workflows, the queues
dashboard and runners.

Importing the package registers every ModelAdmin (Django's admin autodiscovery imports it).
"""

from .dashboard import QueueDashboardAdmin
from .definitions import TaskDefinitionAdmin
from .items import QueueItemAdmin
from .runners import RunnerAdmin
from .schedules import ScheduleAdmin
from .workflows import WorkflowAdmin

__all__ = [
    "QueueDashboardAdmin",
    "QueueItemAdmin",
    "RunnerAdmin",
    "ScheduleAdmin",
    "TaskDefinitionAdmin",
    "WorkflowAdmin",
]
