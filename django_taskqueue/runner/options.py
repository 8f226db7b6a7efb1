"""A runner's options, checked once, whether they come from the command line or the settings."""

from __future__ import annotations

from dataclasses import dataclass

from ..conf import app_settings
from ..validation import check_integer, check_seconds, check_unstuck_minutes

MAX_CONCURRENCY = 1000
MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS = 0.01, 3600.0
MAX_GRACE_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class RunnerOptions:
    concurrency: int
    interval: float
    unstuck_minutes: float
    heartbeat_seconds: float
    grace_seconds: float

    @classmethod
    def checked(
        cls,
        concurrency: int | None,
        interval: float | None,
        unstuck_minutes: float | None,
        grace_seconds: float | None,
    ) -> RunnerOptions:
        """The given values, or the settings' where None; a bad one raises ``InvalidValue``."""
        settings = app_settings
        unstuck = check_unstuck_minutes(
            settings.RUNNER_UNSTUCK_MINUTES if unstuck_minutes is None else unstuck_minutes
        )
        return cls(
            concurrency=check_integer(
                settings.RUNNER_CONCURRENCY if concurrency is None else concurrency,
                "concurrency",
                1,
                MAX_CONCURRENCY,
            ),
            interval=check_seconds(
                settings.RUNNER_INTERVAL_SECONDS if interval is None else interval,
                "interval",
                minimum=MIN_INTERVAL_SECONDS,
                maximum=MAX_INTERVAL_SECONDS,
            ),
            unstuck_minutes=unstuck,
            # Heartbeat well inside the unstuck window, or live runners would look dead.
            heartbeat_seconds=min(
                check_seconds(settings.RUNNER_HEARTBEAT_SECONDS, "RUNNER_HEARTBEAT_SECONDS"),
                unstuck * 60 / 3,
            ),
            grace_seconds=check_seconds(
                settings.RUNNER_SHUTDOWN_GRACE_SECONDS if grace_seconds is None else grace_seconds,
                "grace_seconds",
                maximum=MAX_GRACE_SECONDS,
            ),
        )
