"""Through PgBouncer, measured: idle wake-up latency and drain rate beside a direct connection.

    python bench/pgbouncer.py [--samples 30] [--items 10000] [--json out.json]

Needs PostgreSQL on 127.0.0.1:5432 and PgBouncer in transaction mode on 127.0.0.1:6543
(``scripts/start-pgbouncer``). One real ``runqueue`` process per mode, on a database of its
own created afresh. The modes:

- ``direct``: straight to PostgreSQL, woken by LISTEN/NOTIFY;
- ``pooled_listen``: through PgBouncer, LISTEN on ``TASKQUEUE["LISTEN_DATABASE"]`` (direct);
- ``pooled_poll_200ms`` and ``pooled_poll_50ms``: through PgBouncer, no LISTEN, polling.

Latency is from just before an enqueue (client clock) to the attempt's start (the runner's
clock, the same machine), for single items enqueued one at a time onto an idle runner, at
random gaps so polling is not sampled in step. The drain rate
counts from the first start to the last completion of ``--items`` no-op items.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.flow_scenarios import clean, drain_round, runners, setup, stop  # noqa: E402

DIRECT = "postgres://postgres@127.0.0.1:5432/bench_pgbouncer"
POOLED = "postgres://postgres@127.0.0.1:6543/bench_pgbouncer"
MODES: dict[str, dict[str, str]] = {
    "direct": {"DATABASE_URL": DIRECT},
    "pooled_listen": {"DATABASE_URL": POOLED, "LISTEN_DATABASE_URL": DIRECT},
    "pooled_poll_200ms": {"DATABASE_URL": POOLED, "TASKQUEUE_TEST_LISTEN_NOTIFY": "0"},
    "pooled_poll_50ms": {"DATABASE_URL": POOLED, "TASKQUEUE_TEST_LISTEN_NOTIFY": "0"},
}
INTERVALS = {"pooled_poll_200ms": "0.2", "pooled_poll_50ms": "0.05"}


def latency(samples: int) -> list[float]:
    from django_taskqueue import enqueue_by_alias
    from django_taskqueue.models import QueueItem

    waits = []
    for _ in range(samples):
        committed = time.time()  # an upper bound: the enqueue itself is counted in
        item = enqueue_by_alias("Noop", {})  # autocommit: committed on return
        deadline = time.monotonic() + 10
        started = None
        while started is None and time.monotonic() < deadline:
            started = QueueItem.objects.filter(pk=item.pk).values_list("started_at", flat=True)[0]
            if started is None:
                time.sleep(0.002)
        assert started is not None, "the runner did not take the item within 10 s"
        waits.append((started.timestamp() - committed) * 1000)
        time.sleep(random.uniform(0.3, 0.7))  # idle again, out of step with any poll
    return waits


def measure(mode: str, samples: int, items: int) -> dict[str, Any]:
    from django.db import connection

    os.environ.update(MODES[mode])
    # This process enqueues the way the mode says too: its NOTIFY goes through the pooler.
    connection.close()
    connection.settings_dict["PORT"] = 5432 if mode == "direct" else 6543
    interval = INTERVALS.get(mode, "5")
    clean()
    processes = runners(1, "--interval", interval)
    time.sleep(3)  # started and idle
    waits = latency(samples)
    stop(processes)
    rate = drain_round(items, limited=False)
    for key in MODES[mode]:
        os.environ.pop(key, None)
    return {
        "latency_ms_median": round(statistics.median(waits), 1),
        "latency_ms_p95": round(sorted(waits)[int(len(waits) * 0.95) - 1], 1),
        "drain_per_s": round(rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    subprocess.run([str(REPO / "scripts" / "start-pgbouncer")], check=True)
    setup(DIRECT)  # a fresh database, migrated; the test process then stays direct
    results: dict[str, Any] = {}
    for mode in MODES:
        results[mode] = measure(mode, options.samples, options.items)
        print(json.dumps({mode: results[mode]}), flush=True)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
