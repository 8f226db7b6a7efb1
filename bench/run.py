"""Benchmark Django database-backed task queues side by side.

    python bench/run.py [--quick] [--only procrastinate,djangoq] [--json out.json]

Creates bench/.venv (Python 3.12) on first use and re-executes itself there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV = BENCH / ".venv"
VENV_PY = VENV / "bin" / "python"


def bootstrap(argv: list[str]) -> None:
    """Create/refresh bench/.venv, then exec this script inside it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        py = os.environ.get("BENCH_PYTHON") or sys.executable
        subprocess.run([py, "-m", "venv", str(VENV)], check=True, timeout=300)
    reqs = BENCH / "requirements.txt"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(reqs.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        pip = [str(VENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(reqs)], check=True, timeout=900)
        stamp.write_text(digest)
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *argv])


def install_ours() -> None:
    """Editable install of this repo (our app); failure only skips our adapters."""
    probe = [str(VENV_PY), "-c", "import importlib.metadata as m; m.version('django-taskqueue')"]
    if subprocess.run(probe, capture_output=True, cwd=VENV, timeout=60).returncode == 0:
        return
    done = subprocess.run(
        [str(VENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-e", f"{REPO}[postgres]"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        print(f"note: `pip install -e {REPO}[postgres]` failed ({last})", file=sys.stderr)


def fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def drain_cell(d: dict[str, Any]) -> str:
    return f"{fmt(d['per_s'])} ({fmt(d.get('steady_per_s'))})"


LEGEND = (
    "drain/s: N pre-enqueued no-ops / seconds from worker start to last done "
    "(in parentheses: steady rate, first to last done). CPU columns: seconds per 1,000 "
    "items over that steady window at c={c}; PG CPU is every postgres process on the host. "
    "host noisy: other processes used >= 0.25 core before, or > 0.3 core during, a phase."
)


def noisy(r: dict[str, Any]) -> bool:
    """Did other work on the shared host overlap this adapter's measurements?"""
    phases = [r["single"], r["bulk"], r["latency"], *r["drain"]]
    if any(p and p.get("host_busy_cores_before", 0) >= 0.25 for p in phases):
        return True
    return any(d["other_host_cpu_s"] / d["seconds"] > 0.3 for d in r["drain"])


def table(results: list[dict[str, Any]], concurrencies: list[int]) -> str:
    head = ["queue", "single enq/s", "bulk enq/s"]
    head += [f"drain/s c={c}" for c in concurrencies]
    head += ["latency p50 ms", "latency p95 ms", "worker CPU s/1k", "PG CPU s/1k", "host noisy"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['title']} | skipped: {r['error'].splitlines()[0][:80]} |")
            continue
        drains = {d["concurrency"]: d for d in r["drain"]}
        c1 = drains.get(concurrencies[0], {})
        cells = [r["title"], fmt(r["single"]["per_s"]), fmt((r["bulk"] or {}).get("per_s"))]
        cells += [drain_cell(drains[c]) if c in drains else "—" for c in concurrencies]
        lat = r["latency"] or {}
        cells += [fmt(lat.get("p50_ms"), 1), fmt(lat.get("p95_ms"), 1)]
        cells += [fmt(c1.get("worker_cpu_s_per_1k"), 2), fmt(c1.get("pg_cpu_s_per_1k"), 2)]
        cells.append("yes" if noisy(r) else "no")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n\n" + LEGEND.format(c=concurrencies[0])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 items, c=1,2, 20 samples")
    parser.add_argument("--only", help="comma-separated adapters (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--items", type=int, help="override the number of items")
    parser.add_argument(
        "--repeat", type=int, default=1, help="repetitions per adapter; best figure kept"
    )
    parser.add_argument(
        "--single-rounds",
        type=int,
        help="only single enqueue: this many rounds, the adapters interleaved in each",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        help="seconds to wait for the shared host to go quiet before each phase "
        "(default 3; 0 = don't wait)",
    )
    args = parser.parse_args(argv)
    bootstrap(argv)

    import json
    import platform
    import tempfile
    import time

    from bench import scenario
    from bench.peers import DEFAULT, PEERS

    names = args.only.split(",") if args.only else list(DEFAULT)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        parser.error(f"unknown adapter(s) {unknown}; known: {', '.join(PEERS)}")
    if any(n.startswith("taskqueue") for n in names):
        install_ours()

    items = args.items or (500 if args.quick else 2000)
    concurrencies = [1, 2] if args.quick else [1, 2, 4]
    samples = 20 if args.quick else 50
    scenario.QUIET_TIMEOUT = 3.0 if args.quiet_timeout is None else args.quiet_timeout
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    print(f"items={items} concurrency={concurrencies} latency samples={samples} "
          f"logs={workdir}", flush=True)  # fmt: skip

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.single_rounds:
        report = scenario.interleaved_single(
            [PEERS[name](workdir) for name in names], args.items or 300, args.single_rounds
        )
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(scenario.single_table(report))
        return 0
    results = []
    for name in names:
        peer = PEERS[name](workdir)
        print(f"== {name}", flush=True)
        results.append(scenario.run_peer(peer, items, concurrencies, samples, args.repeat))

    report = {
        "mode": "quick" if args.quick else "full",
        "items": items,
        "concurrencies": concurrencies,
        "latency_samples": samples,
        "quiet_timeout_s": scenario.QUIET_TIMEOUT,
        "repeat": args.repeat,
        "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": os.getloadavg(),
        },
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table(results, concurrencies))
    print()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
