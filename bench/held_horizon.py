"""A held transaction horizon, measured (issue 15): what a queue feels while another session
sits idle in a transaction, and how it recovers once that session lets go.

    python bench/held_horizon.py [--rate 1000] [--before 120] [--hold 600] [--after 180]
                                 [--json out.json]

On a PostgreSQL database of its own (``bench_horizon``, created afresh): a producer enqueues
``--rate`` no-op items a second onto ``bench`` (batches of a tenth of that, ten times a
second) and one real ``runqueue bench --concurrency 8`` process drains them, through three
phases:

1. ``before``: nothing else runs;
2. ``hold``: another connection has begun a REPEATABLE READ transaction, read one row and gone
   idle, as a forgotten ``psql`` session or a long report does; its snapshot keeps every row
   version the queue leaves behind from being vacuumed or marked dead in the indexes;
3. ``after``: that session has committed.

Every 10 s it samples: items finished in the last 10 s, the queued backlog, the claim
statement's own EXPLAIN ANALYZE time and buffers (rolled back), the wait from enqueue to
start of the items finished in the window (p50, p95), the table's dead row versions and the
age in transactions of the oldest snapshot.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATABASE = "postgres://postgres@127.0.0.1:5432/bench_horizon"
SAMPLE_SECONDS = 10


def produce(rate: int, stop: threading.Event) -> None:
    """``rate`` items a second, on a fixed clock: behind, it catches up; it never runs ahead."""
    from django.db import connection

    from django_taskqueue import enqueue_many

    batch, tick, started = max(1, rate // 10), 0, time.monotonic()
    while not stop.is_set():
        enqueue_many("Noop", [{}] * batch, queue_name="bench")
        tick += 1
        time.sleep(max(0.0, started + tick / 10 - time.monotonic()))
    connection.close()


def sample(phase: str, elapsed: float) -> dict[str, Any]:
    from django.db import connection

    from bench.scale import claim_plan, execution_ms

    plan = claim_plan(seed_items=0, explain="ANALYZE, BUFFERS, COSTS OFF")
    buffers = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", plan)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY started_at - created_at),
                percentile_cont(0.95) WITHIN GROUP (ORDER BY started_at - created_at)
            FROM task_queue
            WHERE status = 'success' AND completed_at >= now() - make_interval(secs => %s)
            """,
            [SAMPLE_SECONDS],
        )
        finished, wait_p50, wait_p95 = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM task_queue WHERE status = 'queued'")
        backlog = cursor.fetchone()[0]
        cursor.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'task_queue'"
        )
        dead = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(max(age(backend_xmin)), 0) FROM pg_stat_activity "
            "WHERE datname = current_database()"
        )
        horizon_age = cursor.fetchone()[0]
    return {
        "phase": phase,
        "t_s": round(elapsed),
        "finished_per_s": round(finished / SAMPLE_SECONDS),
        "backlog": backlog,
        "claim_ms": execution_ms(plan),
        "claim_buffers": sum(int(n) for n in buffers.groups() if n) if buffers else None,
        "wait_p50_ms": round(wait_p50.total_seconds() * 1000, 1) if wait_p50 else None,
        "wait_p95_ms": round(wait_p95.total_seconds() * 1000, 1) if wait_p95 else None,
        "dead_row_versions": dead,
        "oldest_snapshot_age_xids": horizon_age,
    }


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float | None:
        values = [s[key] for s in samples if s[key] is not None]
        return round(statistics.median(values), 3) if values else None

    return {
        "finished_per_s_median": median("finished_per_s"),
        "finished_per_s_min": min(s["finished_per_s"] for s in samples),
        "claim_ms_median": median("claim_ms"),
        "claim_ms_max": max(s["claim_ms"] for s in samples),
        "wait_p95_ms_median": median("wait_p95_ms"),
        "backlog_max": max(s["backlog"] for s in samples),
        "dead_row_versions_max": max(s["dead_row_versions"] for s in samples),
    }


def hold_horizon() -> Any:
    import psycopg

    session = psycopg.connect(DATABASE.replace("postgres://", "postgresql://"))
    session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    session.execute("SELECT count(*) FROM django_taskqueue_taskdefinition").fetchone()
    return session  # idle in transaction from here on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--before", type=int, default=120)
    parser.add_argument("--hold", type=int, default=600)
    parser.add_argument("--after", type=int, default=180)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    from bench.flow_scenarios import setup

    os.environ["DEBUG"] = "0"  # no query log growing in this long-lived process
    setup(DATABASE)
    runner = subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "runqueue", "bench", "-v0",
         "--concurrency", "8"],
        cwd=REPO, env={**os.environ}, start_new_session=True,
    )  # fmt: skip
    stop = threading.Event()
    producer = threading.Thread(target=produce, args=(options.rate, stop))
    producer.start()
    samples: list[dict[str, Any]] = []
    started, session = time.monotonic(), None
    phases = [("before", options.before), ("hold", options.hold), ("after", options.after)]
    try:
        for phase, seconds in phases:
            if phase == "hold":
                session = hold_horizon()
            elif session is not None:
                session.commit()
            phase_end = time.monotonic() + seconds
            while time.monotonic() < phase_end:
                time.sleep(SAMPLE_SECONDS)
                samples.append(sample(phase, time.monotonic() - started))
                print(json.dumps(samples[-1]), flush=True)
    finally:
        stop.set()
        producer.join()
        runner.terminate()
        runner.wait(timeout=60)
    results = {
        "rate_asked_per_s": options.rate,
        "phases": {
            phase: summary([s for s in samples if s["phase"] == phase]) for phase, _ in phases
        },
        "samples": samples,
    }
    print(json.dumps(results["phases"], indent=2))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
