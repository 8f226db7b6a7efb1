"""Flow control, measured: the scenarios of the flow-control issue and the cost of limits.

    python bench/flow_scenarios.py [--database postgres://postgres@127.0.0.1:5432/bench_flow]
                                   [--drain-items 20000] [--rounds 3] [--json out.json]

Runs against the test project (``tests.settings``: its handlers journal their own start and
end times, which are what the figures count) on a database of its own, created afresh. Every
runner is a real ``manage.py runqueue`` process. The scenarios:

1. four runners, a definition at ``"20/s"``, 300 items: the most starts in any sliding second;
2. four runners, 5 keys with ``key_concurrency_limit=1``, 200 items of 50 ms: overlapping runs
   per key, and the total time;
3. one runner, key A's 5,000 items enqueued before key B's 20: how many of A had finished when
   B's last did;
4. 50 threads enqueueing one ``unique_key`` at once: items created;
5. a drain of no-op items by one runner with limits configured that never bind, beside the
   same drain without them, in alternating rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def setup(database_url: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = database_url
    url = urlparse(database_url)
    if url.scheme.startswith("postgres"):
        import psycopg

        name = url.path.lstrip("/")
        admin = url._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def runners(count: int, *args: str) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(REPO / "manage.py"), "runqueue", "tests", *args]
    return [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(count)
    ]  # fmt: skip


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def wait_done(ids: list[int], timeout: float = 600) -> None:
    from django_taskqueue.models import QueueItem

    deadline = time.monotonic() + timeout
    while QueueItem.objects.filter(pk__in=ids, status="success").count() < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"items did not finish within {timeout} s")
        time.sleep(0.2)


def clean() -> None:
    from django_taskqueue.models import LimitStart, QueueItem, QueueItemAttempt
    from tests.taskapp.models import Journal

    for model in (Journal, QueueItemAttempt, LimitStart, QueueItem):
        model.objects.all().delete()


def span(ids: list[int]) -> float:
    from tests.taskapp.tasks import journal_times

    starts = journal_times(ids).values()
    ends = journal_times(ids, "end").values()
    return round(max(ends) - min(starts), 2)


def rate_scenario() -> dict[str, Any]:
    from django_taskqueue import enqueue_many
    from tests.taskapp.tasks import most_started_within

    clean()
    ids = enqueue_many("RateLimited", [{}] * 300)
    processes = runners(4, "--concurrency", "4", "--interval", "0.05")
    wait_done(ids)
    stop(processes)
    return {
        "items": 300,
        "runners": 4,
        "rate": "20/s",
        "most_starts_in_any_second": most_started_within(ids),
        "seconds": span(ids),
    }


def key_scenario() -> dict[str, Any]:
    from django_taskqueue import enqueue_many
    from tests.taskapp.tasks import overlapping_runs

    clean()
    by_key = {
        f"k{n}": enqueue_many("OnePerKey", [{"sleep": 0.05}] * 40, concurrency_key=f"k{n}")
        for n in range(5)
    }
    ids = [pk for key_ids in by_key.values() for pk in key_ids]
    processes = runners(4, "--concurrency", "4", "--interval", "0.05")
    wait_done(ids)
    stop(processes)
    overlaps = {key: overlapping_runs(key_ids) for key, key_ids in by_key.items()}
    return {
        "items": 200,
        "keys": 5,
        "runners": 4,
        "overlapping_runs_per_key": overlaps,
        "seconds": span(ids),
        "serial_seconds_at_least": 200 * 0.05,
    }


def fairness_scenario() -> dict[str, Any]:
    """Finish times are the items' ``completed_at`` (the runner's record of each handler's
    end), from no-op handlers: handlers that write rows of their own would, on SQLite,
    measure who wins its write lock rather than the claims' order."""
    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItem

    clean()
    big = enqueue_many("Noop", [{}] * 5000, concurrency_key="A")
    small = enqueue_many("Noop", [{}] * 20, concurrency_key="B")
    processes = runners(1, "--interval", "0.05")
    wait_done(small)
    stop(processes)
    last_small = max(QueueItem.objects.filter(pk__in=small).values_list("completed_at", flat=True))
    before = QueueItem.objects.filter(pk__in=big, completed_at__lt=last_small).count()
    return {"runners": 1, "a_items": 5000, "b_items": 20, "a_finished_when_b_finished": before}


def unique_scenario() -> dict[str, Any]:
    from django.db import connection

    from django_taskqueue import enqueue_by_alias
    from django_taskqueue.models import QueueItem

    clean()
    barrier = threading.Barrier(50)
    errors: list[str] = []

    def enqueue() -> None:
        try:
            barrier.wait()
            enqueue_by_alias("UniqueWhileActive", {}, unique_key="invoice:17")
        except Exception as exc:  # noqa: BLE001 - counted and reported
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=enqueue) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = QueueItem.objects.filter(definition__alias="UniqueWhileActive").count()
    return {"threads": 50, "items_created": made, "errors": errors}


def drain_round(items: int, limited: bool) -> float:
    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItem, TaskDefinition

    clean()
    TaskDefinition.objects.for_alias("Noop")
    TaskDefinition.objects.filter(alias="Noop").update(
        concurrency_limit=100_000 if limited else None,
        rate_limit="1000000/s" if limited else "",
    )
    ids = enqueue_many("Noop", [{}] * items)
    processes = runners(1, "--concurrency", "8", "--interval", "0.05")
    wait_done(ids)
    stop(processes)
    rows = QueueItem.objects.filter(pk__in=ids)
    first = min(rows.values_list("started_at", flat=True))
    last = max(rows.values_list("completed_at", flat=True))
    return items / (last - first).total_seconds()


def drain_phase(items: int, rounds: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"unlimited": [], "limits_not_binding": []}
    for _ in range(rounds):
        rates["unlimited"].append(drain_round(items, limited=False))
        rates["limits_not_binding"].append(drain_round(items, limited=True))
    best = {kind: round(max(values)) for kind, values in rates.items()}
    ratios = zip(rates["unlimited"], rates["limits_not_binding"], strict=True)
    paired = sorted(limited / unlimited for unlimited, limited in ratios)
    return {
        "items": items,
        "rounds": rounds,
        "per_s": {kind: [round(v) for v in values] for kind, values in rates.items()},
        "best_per_s": best,
        "ratio_of_bests": round(best["limits_not_binding"] / best["unlimited"], 3),
        "median_round_ratio": round(statistics.median(paired), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/bench_flow")
    parser.add_argument("--drain-items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="rate,keys,fairness,unique,drain")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    setup(options.database)
    from django.db import connection

    chosen = options.only.split(",")
    results: dict[str, Any] = {"database": connection.vendor}
    scenarios = {
        "rate": rate_scenario,
        "keys": key_scenario,
        "fairness": fairness_scenario,
        "unique": unique_scenario,
        "drain": lambda: drain_phase(options.drain_items, options.rounds),
    }
    for name, scenario in scenarios.items():
        if name in chosen:
            results[name] = scenario()
            print(json.dumps({name: results[name]}), flush=True)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
