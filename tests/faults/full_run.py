"""The full-scale fault run, by hand, never in CI: ``.venv/bin/python tests/faults/full_run.py``.

Runs ``tests/faults`` on PostgreSQL at ``TASKQUEUE_FAULT_SCALE=50`` (20,000 items for the
contention test, 10,000 in the kill storm, minutes of soak) with a real server restart in the
outage test, then prints the figures each scenario reported as Markdown rows for
``docs/reliability.md``. The restart (``pg_ctlcluster ... restart``) needs root and disturbs
anyone else using the server, so run it when the machine is quiet.

Options: ``--scale N`` (default 50), ``--no-restart``, ``--database-url URL``, and anything
after ``--`` goes to pytest (e.g. ``-- -k kill_storm``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=50)
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()

    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as report:
        env = {
            **os.environ,
            "DATABASE_URL": args.database_url,
            "TASKQUEUE_FAULT_SCALE": str(args.scale),
            "TASKQUEUE_FAULT_REPORT": report.name,
            "TASKQUEUE_FAULT_RESTART_POSTGRES": "0" if args.no_restart else "1",
        }
        load_before = os.getloadavg()
        started = time.monotonic()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/faults",
                "-p",
                "no:logging",
                "-q",
                *args.pytest_args,
            ],
            cwd=ROOT,
            env=env,
        )
        elapsed = time.monotonic() - started
        records = [json.loads(line) for line in Path(report.name).read_text().splitlines()]

    print(
        f"\nscale {args.scale:g}, pytest exit {result.returncode}, {elapsed:.0f} s, "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}\n"
    )
    print("| scenario | database | figures |")
    print("|---|---|---|")
    for record in records:
        figures = ", ".join(
            f"{key} {value}"
            for key, value in record.items()
            if key not in ("scenario", "database", "scale")
        )
        print(f"| {record['scenario']} | {record['database']} | {figures} |")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
