"""``manage.py runqueue QUEUE [QUEUE ...]``: argument parsing around ``QueueRunner``."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from django_taskqueue.conf import app_settings
from django_taskqueue.exceptions import TaskQueueError
from django_taskqueue.management.arguments import duration_in
from django_taskqueue.runner import QueueRunner
from django_taskqueue.schedules.sync import declared_schedules
from django_taskqueue.store import OUTAGE_ERRORS

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = "Run queue items from the named queues until stopped (SIGTERM/SIGINT) or drained."

    def add_arguments(self, parser: CommandParser) -> None:
        # Short, so that a bad option's error is not buried under Django's common options.
        parser.usage = "%(prog)s [QUEUE ...] [options]; see --help"
        parser.add_argument("queues", nargs="*", help="Queue names (default: the default queue).")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Items run at once, 1-1000 (default: RUNNER_CONCURRENCY, 10).",
        )
        parser.add_argument(
            "--interval",
            type=duration_in("s"),
            default=None,
            help="Time between polls when idle: 0.5, 200ms, 2s; 10ms-1h (default: setting, 1s).",
        )
        parser.add_argument(
            "--unstuck-minutes",
            type=duration_in("m"),
            default=None,
            help="Silence before a runner's items are recovered: 5, 90s, 2h (bare: minutes).",
        )
        parser.add_argument(
            "--grace-seconds",
            type=duration_in("s"),
            default=None,
            help="How long shutdown waits for in-flight items: 30, 2m; 0-1d (default: 30s).",
        )
        parser.add_argument("--burst", action="store_true", help="Run what is ready, then exit 0.")
        parser.add_argument(
            "--no-schedules",
            action="store_true",
            help="Do not fire schedules from this runner (others still do).",
        )
        parser.add_argument(
            "--database",
            default=None,
            help="The alias of the queue's database (default: TASKQUEUE['DATABASE']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(options["verbosity"])
        self._require_migrated(options["database"] or app_settings.DATABASE)
        try:
            runner = QueueRunner(
                options["queues"] or [app_settings.DEFAULT_QUEUE],
                concurrency=options["concurrency"],
                interval=options["interval"],
                unstuck_minutes=options["unstuck_minutes"],
                grace_seconds=options["grace_seconds"],
                burst=options["burst"],
                using=options["database"],
                schedules=not options["no_schedules"],
            )
            if not options["no_schedules"]:
                declared_schedules()  # a bad TASKQUEUE["SCHEDULES"] stops the start, clearly
        except TaskQueueError as exc:  # the same rules, and messages, as the settings'
            raise CommandError(str(exc)) from exc
        sys.exit(runner.run())

    @staticmethod
    def _require_migrated(using: str) -> None:
        """Refuse to start on a database without the queue's tables, which a runner would
        otherwise take for an outage and wait out forever."""
        if using not in connections:
            return  # QueueRunner names the unknown alias
        try:
            executor = MigrationExecutor(connections[using])
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes("django_taskqueue"))
        except OUTAGE_ERRORS as exc:  # the runner waits an outage out; so does this check
            logging.getLogger("django_taskqueue.runner").warning(
                "Could not check database %r for migrations (%s); starting anyway", using, exc
            )
            return
        if plan:
            names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan)
            raise CommandError(
                f"Database {using!r} lacks django_taskqueue's tables or their latest changes "
                f"(unapplied: {names}). Run: python manage.py migrate --database {using}"
            )

    def _configure_logging(self, verbosity: int) -> None:
        logger = logging.getLogger("django_taskqueue")
        logger.setLevel(LEVELS.get(verbosity, logging.INFO))
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(cast(TextIO, self.stderr._out))
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(handler)
