"""Bulk enqueue, drain and latency of several adapters, interleaved round by round.

usage: python bench/interleaved.py ROUNDS ADAPTER [ADAPTER ...] [--items N] [--samples S]
       [--json PATH]

The full run (bench/run.py) measures one adapter after the other, minutes apart; on a shared
host the rates drift by more than a change's effect in that time. Here every round runs each
adapter's phases in turn (in reverse order every other round), so a before/after comparison
(``taskqueue-baseline`` against ``taskqueue``) sees the same drift, and the medians of the
rounds compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure, scenario  # noqa: E402
from bench.peers import PEERS  # noqa: E402


def one_round(peer: Any, n: int, concurrency: int, samples: int) -> dict[str, Any]:
    peer.reset()
    bulk = scenario.timed_enqueue(peer, "bulk", n)
    drained = scenario.drain(peer, n, concurrency, timeout=60 + n / 10)  # empties and fills
    waited = scenario.latency(peer, samples)
    return {
        "bulk_per_s": bulk["per_s"] if bulk else None,  # None: the adapter has no bulk enqueue
        "drain_per_s": drained["per_s"],
        "drain_steady_per_s": drained.get("steady_per_s"),
        "latency_p50_ms": waited["p50_ms"],
        "latency_p95_ms": waited["p95_ms"],
    }


def _shown(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", type=int)
    parser.add_argument("adapters", nargs="+")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    peers = [PEERS[name](workdir) for name in args.adapters]
    rounds: dict[str, list[dict[str, Any]]] = {peer.name: [] for peer in peers}
    for peer in peers:
        peer.setup()
    try:
        for number in range(args.rounds):
            # Every other round in reverse order: a phase never always follows the same one.
            for peer in peers if number % 2 == 0 else peers[::-1]:
                rounds[peer.name].append(
                    one_round(peer, args.items, args.concurrency, args.samples)
                )
            drains = [f"{name} {runs[-1]['drain_per_s']:,.0f}/s" for name, runs in rounds.items()]
            print(f"round {number + 1}/{args.rounds}, drain: {', '.join(drains)}", flush=True)
    finally:
        for peer in peers:
            peer.teardown()
    keys = ["bulk_per_s", "drain_per_s", "drain_steady_per_s", "latency_p50_ms", "latency_p95_ms"]
    print("| adapter | bulk /s | drain /s | drain steady /s | latency p50 ms | latency p95 ms |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for peer in peers:
        values = rounds[peer.name]
        measured = {key: [v[key] for v in values if v[key] is not None] for key in keys}
        medians[peer.name] = {
            key: measure.percentile(found, 50) if found else None
            for key, found in measured.items()
        }
        cells = [_shown(medians[peer.name][key], ",.0f") for key in keys[:3]]
        cells += [_shown(medians[peer.name][key], ".1f") for key in keys[3:]]
        print(f"| {peer.title} | " + " | ".join(cells) + " |")
    if args.json:
        report = {
            "mode": "interleaved bulk, drain and latency",
            "items": args.items,
            "concurrency": args.concurrency,
            "latency_samples": args.samples,
            "rounds": rounds,
            "medians": medians,
            "versions": {peer.name: scenario.versions(peer) for peer in peers},
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
