"""How our runner copes as work grows, on the local PostgreSQL (issue 3's scale targets).

1. Drain rate of N no-op items with an empty table, then again with 1,000,000 finished items
   in it (the claim must stay an index scan; the rate must stay within 20%), with the claim's
   EXPLAIN ANALYZE.
2. A runner's RSS across 100,000 items (must stay flat within 10%).
3. With ``--big-rows 10000000`` (issue 15): a table of that many items shaped like a busy
   site's (bench/big_table.py), the drain and the claim's plan on it, and p50/p95 of the
   admin change list, the dashboard, the HTTP API list and /metrics (target: p95 < 200 ms).

Run with the repository's virtualenv (``make test`` builds it):

    .venv/bin/python bench/scale.py [--items 20000] [--finished 1000000] [--rss-items 100000]
        [--big-rows 0] [--page-runs 30]

A phase given 0 rows is skipped.

It creates and drops its own database, ``bench_scale``, and starts only its own runners.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_URL = "postgres://postgres@127.0.0.1:5432/bench_scale"
ENV = {
    **os.environ,
    "DATABASE_URL": DB_URL,
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "DEBUG": "0",
    "PYTHONPATH": str(ROOT),
}


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS bench_scale WITH (FORCE)")
        c.execute("CREATE DATABASE bench_scale")


def setup_django() -> None:
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def runner(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runqueue", "bench", "-v0", *args],
        env=ENV,
        cwd=ROOT,
        start_new_session=True,
    )


def drain_rate(items: int) -> float:
    """Items per second from the first start to the last finish of this batch's attempts."""
    from django.db.models import Max, Min

    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItemAttempt

    QueueItemAttempt.objects.all().delete()
    enqueue_many("Noop", [{}] * items, queue_name="bench")
    process = runner("--burst", "--concurrency", "10")
    if process.wait(timeout=600) != 0:
        raise SystemExit("runner failed")
    span = QueueItemAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    return items / (span["last"] - span["first"]).total_seconds()


def add_finished_items(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO task_queue (definition_id, queue_name, status, parameters, details,
                last_error, attempts, max_attempts, priority, run_at, created_at, started_at,
                completed_at, updated_at, cancel_requested)
            SELECT (SELECT id FROM django_taskqueue_taskdefinition WHERE alias = 'Noop'),
                'bench', 'success', '{}', '', '', 1, 3, 0, now(), now(), now(), now(), now(),
                FALSE
            FROM generate_series(1, %s)
            """,
            [count],
        )
        cursor.execute("VACUUM ANALYZE task_queue")


def claim_plan(seed_items: int = 50, explain: str = "ANALYZE, COSTS OFF") -> str:
    """EXPLAIN ANALYZE of the real claim statement, captured from the store's claim itself,
    on the ``bench`` queue after ``seed_items`` more items were put there."""
    from django.db import connection, transaction
    from django.utils import timezone

    from django_taskqueue import enqueue_many
    from django_taskqueue.models import Runner
    from django_taskqueue.store import get_store

    if seed_items:
        enqueue_many("Noop", [{}] * seed_items, queue_name="bench")
    Runner.objects.get_or_create(
        id="explain", defaults={"hostname": "x", "pid": 1, "concurrency": 1}
    )
    captured: list[tuple[str, list]] = []

    def spy(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with transaction.atomic():
        with connection.execute_wrapper(spy):
            get_store().claim(["bench"], 10, "explain", timezone.now())
        transaction.set_rollback(True)
    sql, params = captured[-1]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({explain}) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def execution_ms(plan: str) -> float:
    """The statement's own time, from the "Execution Time" line of an EXPLAIN ANALYZE."""
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    if found is None:
        raise ValueError(f"not an EXPLAIN ANALYZE: {plan[:200]}")
    return float(found.group(1))


def claim_times(samples: int = 20, backlog: int = 1000) -> dict[str, float]:
    """Median and p95 of the claim statement's own time (EXPLAIN ANALYZE, rolled back) with
    ``backlog`` items queued on ``bench``; those are deleted again afterwards."""
    from bench.measure import percentile
    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItem

    enqueue_many("Noop", [{}] * backlog, queue_name="bench")
    times = [execution_ms(claim_plan(seed_items=0)) for _ in range(samples)]
    QueueItem.objects.filter(queue_name="bench", status="queued").delete()
    return {"p50_ms": statistics.median(times), "p95_ms": percentile(times, 95)}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def rss_over(items: int) -> dict[str, float]:
    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItem

    QueueItem.objects.filter(status="success").delete()
    for start in range(0, items, 20_000):
        enqueue_many("Noop", [{}] * min(20_000, items - start), queue_name="bench")
    process = runner("--concurrency", "10")
    samples: list[tuple[int, int]] = []
    started = time.monotonic()
    while True:
        done = QueueItem.objects.filter(status="success").count()
        samples.append((done, rss_kib(process.pid)))
        if done >= items or time.monotonic() - started > 900:
            break
        time.sleep(1)
    process.terminate()
    process.wait(timeout=60)
    after_warmup = next(rss for done, rss in samples if done >= items // 10)
    return {
        "items": done,
        "seconds": round(time.monotonic() - started, 1),
        "rss_mib_at_10pct": round(after_warmup / 1024, 1),
        "rss_mib_end": round(samples[-1][1] / 1024, 1),
        "rss_mib_max": round(max(rss for _, rss in samples) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--rss-items", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=0)
    parser.add_argument("--page-runs", type=int, default=30)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()

    recreate_database()
    setup_django()
    results: dict[str, object] = {}
    results["drain_empty_per_s"] = round(drain_rate(options.items))
    print(f"drain, empty table: {results['drain_empty_per_s']:,}/s", flush=True)
    if options.finished:
        add_finished_items(options.finished)
        results["drain_with_finished_per_s"] = round(drain_rate(options.items))
        print(
            f"drain, {options.finished:,} finished rows: "
            f"{results['drain_with_finished_per_s']:,}/s",
            flush=True,
        )
    if options.big_rows:
        big_table_phase(options.big_rows, options.items, options.page_runs, results)
    results["claim_plan"] = claim_plan()
    print(results["claim_plan"], flush=True)
    if options.rss_items:
        results["rss"] = rss_over(options.rss_items)
        print(f"runner RSS: {results['rss']}", flush=True)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


def big_table_phase(rows: int, items: int, runs: int, results: dict[str, object]) -> None:
    from bench import big_table

    def log(line: str) -> None:
        print(line, flush=True)

    results["claim_empty"] = claim_times()
    log(f"claim, empty table: {results['claim_empty']}")
    print(f"building a table of {rows:,} items", flush=True)
    results["big_table_build"] = big_table.build(rows, log)
    log(f"  {results['big_table_build']}")
    results["drain_with_big_table_per_s"] = round(drain_rate(items))
    log(f"drain, {rows:,} rows: {results['drain_with_big_table_per_s']:,}/s")
    results["claim_big_table"] = claim_times()
    log(f"claim, {rows:,} rows: {results['claim_big_table']}")
    log(f"pages on {rows:,} rows ({runs} fetches each, after 3 to warm up):")
    results["big_table_pages"] = big_table.page_timings(runs, log)


if __name__ == "__main__":
    main()
