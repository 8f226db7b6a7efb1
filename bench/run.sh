#!/usr/bin/env bash
# Run the queue benchmark. bench/run.py creates bench/.venv itself on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${BENCH_PYTHON:-$("$here/../scripts/find-python" 3.12)}"
exec "$py" "$here/run.py" "$@"
