"""The scheduler's idle cost: statements per minute a runner sends for schedules when none is due.

    python bench/schedules.py [--database postgres://postgres@127.0.0.1:5432/bench_schedules]
                              [--seconds 60] [--schedules 100]

Runs a runner's schedule duty (``ScheduleDuty``) as the runner does, sleeping for as long as it
asks, with ``--schedules`` schedules whose next fire time is hours away, and counts what it
sends. The fire-once figures come from ``tests/faults/test_schedule_faults.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from flow_scenarios import setup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/bench_schedules")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--schedules", type=int, default=100)
    options = parser.parse_args()
    setup(options.database)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_taskqueue.models import Schedule
    from django_taskqueue.schedules.duty import ScheduleDuty

    for n in range(options.schedules):
        Schedule(name=f"daily-{n}", alias="Record", cron=f"{n % 60} 3 * * *").save()
    duty = ScheduleDuty("default")
    looks = 0
    deadline = time.monotonic() + options.seconds
    with CaptureQueriesContext(connection) as statements:
        while time.monotonic() < deadline:
            wait = duty()
            looks += 1
            time.sleep(min(wait, max(deadline - time.monotonic(), 0)))
    minutes = options.seconds / 60
    print(json.dumps({
        "database": connection.vendor,
        "schedules": options.schedules,
        "seconds": options.seconds,
        "looks_per_minute": round(looks / minutes, 1),
        "statements_per_minute": round(len(statements.captured_queries) / minutes, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
