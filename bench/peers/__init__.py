"""Registry of adapters, by CLI name."""

from __future__ import annotations

from bench.peers.base import Peer
from bench.peers.djangoq import DjangoQ
from bench.peers.djangotasks import DjangoTasks
from bench.peers.procrastinate import Procrastinate
from bench.peers.taskqueue import TaskQueue, TaskQueueSQLite

PEERS: dict[str, type[Peer]] = {
    p.name: p for p in (Procrastinate, DjangoQ, DjangoTasks, TaskQueue, TaskQueueSQLite)
}
DEFAULT = ("procrastinate", "djangoq", "djangotasks", "taskqueue", "taskqueue-sqlite")
