"""``manage.py runqueue QUEUE [QUEUE ...]``: argument parsing around ``QueueRunner``."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_taskqueue.conf import app_settings
from django_taskqueue.exceptions import InvalidName
from django_taskqueue.runner import QueueRunner

LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = "Run queue items from the named queues until stopped (SIGTERM/SIGINT) or drained."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("queues", nargs="*", help="Queue names (default: the default queue).")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Items run at once (default %(default)s → setting, 10).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between polls when idle (default: setting, 1.0).",
        )
        parser.add_argument(
            "--unstuck-minutes",
            type=float,
            default=None,
            help="Requeue running items whose runner stopped heartbeating this long.",
        )
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=None,
            help="How long shutdown waits for in-flight items.",
        )
        parser.add_argument("--burst", action="store_true", help="Run what is ready, then exit 0.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] is not None and options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")
        for name in ("interval", "unstuck_minutes", "grace_seconds"):
            if options[name] is not None and options[name] < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
        self._configure_logging(options["verbosity"])
        try:
            runner = QueueRunner(
                options["queues"] or [app_settings.DEFAULT_QUEUE],
                concurrency=options["concurrency"],
                interval=options["interval"],
                unstuck_minutes=options["unstuck_minutes"],
                grace_seconds=options["grace_seconds"],
                burst=options["burst"],
            )
        except InvalidName as exc:
            raise CommandError(str(exc)) from exc
        sys.exit(runner.run())

    def _configure_logging(self, verbosity: int) -> None:
        logger = logging.getLogger("django_taskqueue")
        logger.setLevel(LEVELS.get(verbosity, logging.INFO))
        if not logger.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(self.stderr._out)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
