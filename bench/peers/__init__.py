"""Registry of adapters, by CLI name."""

from __future__ import annotations

from bench.peers.bare import BarePsycopg
from bench.peers.base import Peer
from bench.peers.djangoq import DjangoQ
from bench.peers.djangotasks import DjangoTasks
from bench.peers.procrastinate import Procrastinate
from bench.peers.taskqueue import TaskQueue, TaskQueueBaseline, TaskQueueSQLite

PEERS: dict[str, type[Peer]] = {
    p.name: p
    for p in (
        Procrastinate,
        DjangoQ,
        DjangoTasks,
        TaskQueue,
        TaskQueueSQLite,
        TaskQueueBaseline,
        BarePsycopg,
    )
}
DEFAULT = ("procrastinate", "djangoq", "djangotasks", "taskqueue", "taskqueue-sqlite")
