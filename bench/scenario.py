"""The measurement sequence run against one adapter."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import time
import traceback
from typing import Any

from bench import measure
from bench.peers.base import Peer

POLL = 0.02  # seconds between completion polls
QUIET_TIMEOUT = 3.0  # set by run.py: how long to wait for a quiet host before a phase


def versions(peer: Peer) -> dict[str, str]:
    found = {}
    for dist in peer.packages:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def quiet() -> float:
    return round(measure.wait_quiet(QUIET_TIMEOUT), 2)


def timed_enqueue(peer: Peer, kind: str, n: int) -> dict[str, Any] | None:
    if kind == "bulk" and not peer.has_bulk:
        return None
    busy_before = quiet()
    pg0 = measure.postgres_cpu()
    out = peer.single_enqueue(n) if kind == "single" else peer.bulk_enqueue(n)
    if out is None:
        return None
    pg = measure.postgres_cpu() - pg0
    return {
        **out,
        "n": n,
        "host_busy_cores_before": busy_before,
        "per_s": n / out["seconds"],
        "client_cpu_s_per_1k": out["client_cpu"] / n * 1000,
        "pg_cpu_s_per_1k": pg / n * 1000,
    }


def drain(peer: Peer, n: int, concurrency: int, timeout: float) -> dict[str, Any]:
    """Start a worker on n pre-enqueued no-ops; time until the last is done.

    CPU per item is taken over the steady window from the first completed
    task to the last, so worker start-up (imports, connecting) is excluded.
    """
    peer.reset()
    peer.fill(n)
    busy_before = quiet()
    pg_start, host_start = measure.postgres_cpu(), measure.host_busy_cpu()
    t_start = time.perf_counter()
    proc = peer.start_worker(concurrency)
    first: tuple[float, int, float, float] | None = None  # time, done, worker cpu, pg cpu
    try:
        while True:
            done = peer.count_done()
            now = time.perf_counter()
            if done and first is None:
                first = (now, done, measure.tree_cpu(proc.pid), measure.postgres_cpu())
            if done >= n:
                break
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode} after {done}/{n}")
            if now - t_start > timeout:
                raise TimeoutError(f"drain c={concurrency}: {done}/{n} after {timeout:.0f}s")
            time.sleep(POLL)
        worker_cpu, pg_end = measure.tree_cpu(proc.pid), measure.postgres_cpu()
        host = measure.host_busy_cpu() - host_start
    finally:
        measure.stop_group(proc)
    assert first is not None
    t_first, done_first, wcpu_first, pg_first = first
    steady = n - done_first
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "n": n,
        "host_busy_cores_before": busy_before,
        "seconds": now - t_start,
        "per_s": n / (now - t_start),
        "first_done_after_s": t_first - t_start,
        "worker_cpu_total_s": worker_cpu,
        "pg_cpu_total_s": pg_end - pg_start,
        # busy CPU of the host not used by the worker or PostgreSQL: the harness's
        # polling, plus anything else running on this shared machine
        "other_host_cpu_s": host - worker_cpu - (pg_end - pg_start),
    }
    if steady >= n // 4 and now > t_first:  # enough items in the window to be meaningful
        result |= {
            "steady_per_s": steady / (now - t_first),
            "worker_cpu_s_per_1k": (worker_cpu - wcpu_first) / steady * 1000,
            "pg_cpu_s_per_1k": (pg_end - pg_first) / steady * 1000,
        }
    return result


def latency(peer: Peer, samples: int) -> dict[str, Any]:
    peer.reset()
    busy_before = quiet()
    proc: subprocess.Popen[bytes] = peer.start_worker(1)
    try:
        secs = peer.latency(samples)
    finally:
        measure.stop_group(proc)
    ms = [s * 1000 for s in secs]
    return {
        "samples": len(ms),
        "host_busy_cores_before": busy_before,
        "p50_ms": measure.percentile(ms, 50),
        "p95_ms": measure.percentile(ms, 95),
        "max_ms": max(ms),
        "all_ms": [round(x, 2) for x in ms],
    }


def measure_once(peer: Peer, n: int, concurrencies: list[int], samples: int) -> dict[str, Any]:
    result: dict[str, Any] = {"single": timed_enqueue(peer, "single", n)}
    print(f"   single enqueue: {result['single']['per_s']:,.0f}/s", flush=True)
    peer.reset()
    result["bulk"] = timed_enqueue(peer, "bulk", n)
    if result["bulk"]:
        print(f"   bulk enqueue:   {result['bulk']['per_s']:,.0f}/s", flush=True)
    result["drain"] = []
    result["latency"] = None
    if peer.enqueue_only:
        return result
    for c in concurrencies:
        d = drain(peer, n, c, timeout=60 + n / 10)
        result["drain"].append(d)
        print(
            f"   drain c={c}:      {d['per_s']:,.0f}/s ({d['seconds']:.1f}s; "
            f"other host CPU {d['other_host_cpu_s']:.1f}s)",
            flush=True,
        )
    result["latency"] = lat = latency(peer, samples)
    print(f"   latency:        p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms", flush=True)
    return result


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Interference from a shared host only slows things down, so keep, per
    phase, the repetition with the best figure (highest rate, lowest p50)."""

    def fastest(items: list[Any]) -> Any:
        return max(items, key=lambda x: x["per_s"]) if items[0] else None

    drains = [fastest([r["drain"][i] for r in runs]) for i in range(len(runs[0]["drain"]))]
    return {
        "single": fastest([r["single"] for r in runs]),
        "bulk": fastest([r["bulk"] for r in runs]),
        "drain": drains,
        "latency": min(
            (r["latency"] for r in runs), key=lambda x: x["p50_ms"] if x else 0, default=None
        ),
    }


def run_peer(
    peer: Peer, n: int, concurrencies: list[int], samples: int, repeat: int = 1
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": peer.name,
        "title": peer.title,
        "versions": versions(peer),
        "settings": peer.notes,
        "loadavg_before": os.getloadavg(),
    }
    try:
        peer.setup()
        runs = []
        for i in range(repeat):
            if repeat > 1:
                print(f"   -- repetition {i + 1}/{repeat}", flush=True)
            peer.reset()
            runs.append(measure_once(peer, n, concurrencies, samples))
        result |= best_of(runs)
        if repeat > 1:
            result["repetitions"] = runs
    except Exception as exc:  # a broken adapter is reported and skipped, never fatal
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
        print(f"   SKIPPED {peer.name}: {result['error']}", flush=True)
    finally:
        try:
            peer.teardown()
        except Exception as exc:
            print(f"   teardown of {peer.name} failed: {exc}", flush=True)
    return result


def interleaved_single(peers: list[Peer], n: int, rounds: int) -> dict[str, Any]:
    """Single enqueue only, ``rounds`` times, every adapter once per round in turn.

    On a shared machine the rate drifts by a factor of two within minutes; interleaving
    gives every adapter the same drift, so the medians compare where sequential runs do not.
    """
    rates: dict[str, list[float]] = {peer.name: [] for peer in peers}
    cpu: dict[str, list[float]] = {peer.name: [] for peer in peers}  # client ms per enqueue
    for peer in peers:
        peer.setup()
    try:
        for round_number in range(rounds):
            for peer in peers:
                peer.reset()
                quiet()
                out = peer.single_enqueue(n)
                rates[peer.name].append(n / out["seconds"])
                cpu[peer.name].append(out["client_cpu"] / n * 1000)
            print(
                f"   round {round_number + 1}/{rounds}: "
                + ", ".join(f"{name} {values[-1]:,.0f}/s" for name, values in rates.items()),
                flush=True,
            )
    finally:
        for peer in peers:
            peer.teardown()
    return {
        "mode": "interleaved single enqueue",
        "items_per_round": n,
        "rounds": rounds,
        "loadavg_at_end": os.getloadavg(),
        "results": [
            {
                "name": peer.name,
                "title": peer.title,
                "versions": versions(peer),
                "per_s": rates[peer.name],
                "median_per_s": measure.percentile(rates[peer.name], 50),
                "best_per_s": max(rates[peer.name]),
                "client_cpu_ms": cpu[peer.name],
                "median_client_cpu_ms": measure.percentile(cpu[peer.name], 50),
            }
            for peer in peers
        ],
    }


def single_table(report: dict[str, Any]) -> str:
    results = report["results"]
    bare = next((r for r in results if r["name"] == "psycopg-bare"), None)
    rows = [
        "| adapter | median /s | best /s | median / bare | client CPU ms per enqueue |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        ratio = f"{r['median_per_s'] / bare['median_per_s']:.2f}" if bare else "—"
        rows.append(
            f"| {r['title']} | {r['median_per_s']:,.0f} | {r['best_per_s']:,.0f} | {ratio} "
            f"| {r['median_client_cpu_ms']:.3f} |"
        )
    return "\n".join(rows)
