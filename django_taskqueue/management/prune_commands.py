"""The ``taskqueue`` subcommands that delete finished items: ``prune`` by the retention policy
(``TASKQUEUE["RETENTION"]``), ``purge`` by one age for every status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import OutputWrapper

from django_taskqueue.maintenance import prune_by_status
from django_taskqueue.retention import retention_policy

from .arguments import duration_in


def add_prune_subcommands(commands: Any) -> None:
    commands.add_parser(
        "prune",
        help="Delete finished items past their retention (TASKQUEUE['RETENTION']), in batches.",
    )
    purge = commands.add_parser("purge", help="Delete items that finished long ago.")
    purge.add_argument(
        "--older-than",
        type=duration_in(None),
        help="e.g. 30d, 12h, 90m; a unit is required (default: the retention policy).",
    )


class PruneSubcommands:
    stdout: OutputWrapper

    def handle_prune(self, options: dict[str, Any]) -> None:
        kept = ", ".join(
            f"{status} {'for good' if age is None else _age(age)}"
            for status, age in retention_policy().items()
        )
        self._report(prune_by_status(), f"Retention: {kept}.")

    def handle_purge(self, options: dict[str, Any]) -> None:
        age = options["older_than"]
        self._report(prune_by_status(None if age is None else age / timedelta(days=1)))

    def _report(self, deleted: dict[str, int], heading: str = "") -> None:
        if heading:
            self.stdout.write(heading)
        counts = ", ".join(f"{n} {status}" for status, n in deleted.items())
        self.stdout.write(f"Deleted {sum(deleted.values())} finished item(s) ({counts}).")


def _age(age: timedelta) -> str:
    seconds = age.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
