"""The runner behind ``manage.py runqueue``: a coordinator (``runner.py``) over small parts.

``pool.py`` runs handlers on worker threads, ``outcomes.py`` buffers what they produced,
``duties.py`` schedules the periodic work (heartbeat, pause refresh, cancel checks, recovery,
definition refresh), ``wakeup.py`` listens for new work, ``outage.py`` waits out the database,
``stop_signals.py`` relays SIGTERM and SIGINT. None of them sends SQL: the store does.
"""

from .options import MAX_CONCURRENCY
from .runner import QueueRunner

__all__ = ["MAX_CONCURRENCY", "QueueRunner"]
