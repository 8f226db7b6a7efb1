"""``manage.py runqueue QUEUE [QUEUE ...]``: argument parsing around ``QueueRunner``."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskqueue.conf import app_settings
from django_taskqueue.exceptions import TaskQueueError
from django_taskqueue.runner import QueueRunner

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = "Run queue items from the named queues until stopped (SIGTERM/SIGINT) or drained."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queues", nargs="*", help="Queue names (default: the default queue).")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Items run at once, 1-1000 (default: RUNNER_CONCURRENCY, 10).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between polls when idle, 0.01-3600 (default: setting, 1.0).",
        )
        parser.add_argument(
            "--unstuck-minutes",
            type=float,
            default=None,
            help="Minutes without a heartbeat before a runner's items are recovered, 0.01-10080.",
        )
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=None,
            help="Seconds shutdown waits for in-flight items, 0-86400 (default: setting, 30).",
        )
        parser.add_argument("--burst", action="store_true", help="Run what is ready, then exit 0.")
        parser.add_argument(
            "--database",
            default=None,
            help="The alias of the queue's database (default: TASKQUEUE['DATABASE']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._configure_logging(options["verbosity"])
        try:
            runner = QueueRunner(
                options["queues"] or [app_settings.DEFAULT_QUEUE],
                concurrency=options["concurrency"],
                interval=options["interval"],
                unstuck_minutes=options["unstuck_minutes"],
                grace_seconds=options["grace_seconds"],
                burst=options["burst"],
                using=options["database"],
            )
        except TaskQueueError as exc:  # the same rules, and messages, as the settings'
            raise CommandError(str(exc)) from exc
        sys.exit(runner.run())

    def _configure_logging(self, verbosity: int) -> None:
        logger = logging.getLogger("django_taskqueue")
        logger.setLevel(LEVELS.get(verbosity, logging.INFO))
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(cast(TextIO, self.stderr._out))
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(handler)
