"""Runs inside a peer's Django project: timed enqueues and latency samples.

usage: BENCH_PEER=... python bench/driver.py single|bulk|latency N
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("BENCH_CODE_PATH"):  # an older django_taskqueue, ahead of the working tree
    sys.path.insert(0, os.environ["BENCH_CODE_PATH"])


def wait_started(path: Path, key: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                k, _, started = line.partition(" ")
                if k == key:
                    return float(started)
        time.sleep(0.002)
    raise TimeoutError(f"latency task {key} not started within {timeout}s")


def bare(n: int) -> dict[str, Any]:
    """One-row INSERT + COMMIT, n times, with psycopg alone (the ``psycopg-bare`` row)."""
    import datetime

    import psycopg

    from bench.peers.base import PG_DSN

    dsn = PG_DSN.rsplit("/", 1)[0] + "/" + f"bench_{os.environ['BENCH_PEER'].replace('-', '_')}"
    with psycopg.connect(dsn) as conn:
        sql = (
            "INSERT INTO bare_items (queue_name, parameters, run_at, created_at) "
            "VALUES (%s, %s::jsonb, %s, %s)"
        )
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            now = datetime.datetime.now(datetime.UTC)
            conn.execute(sql, ["bench", "{}", now, now])
            conn.commit()
        return {"seconds": time.perf_counter() - t0, "client_cpu": time.process_time() - cpu0}


def main(op: str, n: int) -> dict[str, Any]:
    if op == "bare":
        return bare(n)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.benchsite.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    peer = settings.PEER
    connection.ensure_connection()
    cpu0, t0 = time.process_time(), time.perf_counter()
    if op == "single":
        for _ in range(n):
            with transaction.atomic():
                peer.enqueue_noop()
    elif op == "bulk":
        with transaction.atomic():
            peer.enqueue_noop_bulk(n)
    elif op == "latency":
        path = Path(os.environ["BENCH_LATENCY_FILE"])
        samples = []
        for i in range(-1, n):  # sample -1 is a warm-up: the worker may still be booting
            key = uuid.uuid4().hex
            sent = time.time()
            with transaction.atomic():
                peer.enqueue_latency(key)
            started = wait_started(path, key, 60 if i < 0 else 15)
            if i >= 0:
                samples.append(started - sent)
            time.sleep(random.uniform(0.2, 1.2))  # idle gap, random w.r.t. poll cycles
        return {"samples": samples}
    else:
        raise SystemExit(f"unknown op {op}")
    return {"seconds": time.perf_counter() - t0, "client_cpu": time.process_time() - cpu0}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
