"""Timing, CPU (/proc) and process helpers. Linux only; stdlib only."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    comm: str
    cpu: float  # seconds: utime + stime + cutime + cstime (reaped children)


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5): ppid=4, utime..cstime=14..17
    ticks = sum(int(f) for f in fields[11:15])
    return ProcStat(pid, int(fields[1]), comm, ticks / CLK_TCK)


def all_procs() -> list[ProcStat]:
    stats = (read_stat(int(p)) for p in os.listdir("/proc") if p.isdigit())
    return [s for s in stats if s is not None]


def tree_cpu(root: int) -> float:
    """CPU seconds of a live process tree (children that exited and were
    reaped are included through their parent's cutime/cstime)."""
    procs = all_procs()
    children: dict[int, list[ProcStat]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p)
    total, todo = 0.0, [p for p in procs if p.pid == root]
    while todo:
        p = todo.pop()
        total += p.cpu
        todo.extend(children.get(p.pid, []))
    return total


def postgres_cpu() -> float:
    """CPU seconds of every process named postgres on this machine (all
    databases: other users of the server show up as noise)."""
    return sum(p.cpu for p in all_procs() if p.comm == "postgres" or p.comm.startswith("postgres:"))


def host_busy_cpu() -> float:
    """CPU seconds the whole host spent busy (all cores, all processes)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def wait_quiet(timeout: float, max_busy_cores: float = 0.25, window: float = 1.0) -> float:
    """Wait (at most `timeout` s) until the host's busy CPU over `window` s is
    below `max_busy_cores`: the machine is shared. Returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        before = host_busy_cpu()
        time.sleep(window)
        busy = (host_busy_cpu() - before) / window
        if busy < max_busy_cores or time.monotonic() >= deadline:
            return busy


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process group we started (start_new_session=True), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            # the group may outlive its leader (e.g. orphaned pool workers)
            deadline = time.monotonic() + wait
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not _group_alive(proc.pid):
                return
        except subprocess.TimeoutExpired:
            continue


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
