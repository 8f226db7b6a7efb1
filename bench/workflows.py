"""Workflows, measured: a fan-out/fan-in of no-op steps beside the plain drain of as many.

    python bench/workflows.py [--database postgres://postgres@127.0.0.1:5432/bench_workflows]
                              [--steps 10000] [--rounds 3] [--json out.json]

Each round drains, with one real ``runqueue`` process, first ``--steps`` plain no-op items
(``enqueue_many``), then a workflow of the same size: ``group`` of ``--steps`` no-op members
with one ``then`` step, written by one ``enqueue_workflow``. The rates count from the first
start to the last completion (database timestamps). The fan-in delay is the time from the
last member's completion to the ``then`` step's start. The issue's goal: the workflow drains
at least half as fast as the plain items.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.flow_scenarios import clean, runners, setup, stop, wait_done  # noqa: E402

RUNNER_ARGS = ("--concurrency", "8", "--interval", "0.05")


def plain_round(steps: int) -> dict[str, float]:
    from django_taskqueue import enqueue_many
    from django_taskqueue.models import QueueItem

    clean()
    started = time.perf_counter()
    ids = enqueue_many("Noop", [{}] * steps)
    enqueue_seconds = time.perf_counter() - started
    processes = runners(1, *RUNNER_ARGS)
    wait_done(ids)
    stop(processes)
    rows = QueueItem.objects.filter(pk__in=ids)
    first = min(rows.values_list("started_at", flat=True))
    last = max(rows.values_list("completed_at", flat=True))
    return {"per_s": steps / (last - first).total_seconds(), "enqueue_s": enqueue_seconds}


def workflow_round(steps: int) -> dict[str, float]:
    from django_taskqueue import enqueue_workflow, group
    from django_taskqueue.models import QueueItem, Workflow

    clean()
    Workflow.objects.all().delete()
    started = time.perf_counter()
    workflow = enqueue_workflow(group(*[("Noop", {})] * steps, then=("Noop", {})))
    enqueue_seconds = time.perf_counter() - started
    ids = list(workflow.items.values_list("pk", flat=True))
    processes = runners(1, *RUNNER_ARGS)
    wait_done(ids)
    stop(processes)
    rows = QueueItem.objects.filter(pk__in=ids)
    then = rows.filter(parent_links__isnull=False).distinct().get()  # the one with parents
    members = rows.exclude(pk=then.pk)
    first = min(members.values_list("started_at", flat=True))
    last_member = max(members.values_list("completed_at", flat=True))
    assert then.started_at is not None and then.completed_at is not None
    return {
        "per_s": len(ids) / (then.completed_at - first).total_seconds(),
        "enqueue_s": enqueue_seconds,
        "fan_in_ms": (then.started_at - last_member).total_seconds() * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/bench_workflows")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    setup(options.database)
    from django.db import connection

    rounds: list[dict[str, Any]] = []
    for _ in range(options.rounds):
        plain = plain_round(options.steps)
        fan = workflow_round(options.steps)
        rounds.append({"plain": plain, "workflow": fan, "ratio": fan["per_s"] / plain["per_s"]})
        print(json.dumps(rounds[-1]), flush=True)
    results = {
        "database": connection.vendor,
        "steps": options.steps,
        "rounds": rounds,
        "median_plain_per_s": round(statistics.median(r["plain"]["per_s"] for r in rounds)),
        "median_workflow_per_s": round(statistics.median(r["workflow"]["per_s"] for r in rounds)),
        "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
        "median_fan_in_ms": round(
            statistics.median(r["workflow"]["fan_in_ms"] for r in rounds), 1
        ),
    }
    print(json.dumps({key: value for key, value in results.items() if key != "rounds"}))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
