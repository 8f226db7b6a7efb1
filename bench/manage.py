"""manage.py of the throwaway bench project (settings: bench/benchsite)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # repo root: `bench` package
if os.environ.get("BENCH_CODE_PATH"):  # an older django_taskqueue, ahead of the working tree
    sys.path.insert(0, os.environ["BENCH_CODE_PATH"])

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.benchsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
