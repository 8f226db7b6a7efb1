"""Handlers the tests run in real runner processes. Each records its executions in Journal."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from django_taskqueue import Snooze, current_task, handler

from .models import Journal


def _journal(note: str = "") -> None:
    task = current_task()
    assert task is not None
    Journal.objects.create(item_id=task.item_id, attempt=task.attempt, pid=os.getpid(), note=note)


@handler("Noop", queue="tests")
def noop() -> None:
    return None


@handler("Record", queue="tests", max_attempts=1)
def record(value: object = None, sleep: float = 0.0) -> dict[str, object]:
    if sleep:
        time.sleep(sleep)
    _journal()
    return {"value": value, "pid": os.getpid()}


@handler("FlakyUntil", queue="tests", max_attempts=4, retry_backoff_seconds=0.1)
def flaky_until(succeed_on: int) -> str:
    """Fails until its attempt number reaches ``succeed_on``."""
    _journal()
    task = current_task()
    assert task is not None
    if task.attempt < succeed_on:
        raise RuntimeError(f"attempt {task.attempt} fails on purpose")
    return "ok"


@handler("AlwaysFails", queue="tests", max_attempts=2, retry_backoff_seconds=0.1)
def always_fails() -> None:
    _journal()
    raise ValueError("this handler always fails")


@handler("Sleeper", queue="tests", max_attempts=1, timeout_seconds=0.5)
def sleeper(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # Python-level loop: interruptible by the timeout
        time.sleep(0.01)
    _journal()
    return "woke"


async def _await_and_mark(seconds: float, marker: str) -> str:
    """One long await, reported in the file ``marker``: started, then canceled (or not)."""
    Path(marker).write_text("awaiting")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        Path(marker).write_text("canceled at its await")
        raise
    return "woke"


@handler("AsyncSleeper", queue="tests", max_attempts=1, timeout_seconds=0.5)
async def async_sleeper(seconds: float, marker: str) -> str:
    """Awaits far past its timeout."""
    return await _await_and_mark(seconds, marker)


@handler("AsyncWaiter", queue="tests", max_attempts=1)
async def async_waiter(seconds: float, marker: str) -> str:
    """Awaits until canceled by an operator."""
    return await _await_and_mark(seconds, marker)


@handler("SwallowsErrors", queue="tests", max_attempts=1, timeout_seconds=0.5)
@handler("SwallowsErrorsUntilCanceled", queue="tests", max_attempts=1)
def swallows_errors(seconds: float = 30.0) -> str:
    """Wraps its work in ``except Exception:``, as careless handlers do: the runner's timeout
    and cancel (``TaskInterrupt``, a ``BaseException``) must still stop it."""
    _journal("start")
    deadline = time.monotonic() + seconds
    swallowed = False
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except Exception:  # noqa: BLE001 - the careless pattern under test
            if not swallowed:
                _journal("swallowed")  # what an interrupt that is an Exception would cause
                swallowed = True
    _journal("end")
    return "ran to the end"


@handler("SlowRecord", queue="tests", max_attempts=3)
def slow_record(seconds: float = 1.0) -> str:
    _journal("start")
    time.sleep(seconds)
    _journal("end")
    return "done"


@handler("Exits", queue="tests", max_attempts=1)
def exits() -> None:
    sys.exit(3)


@handler("ReturnsSet", queue="tests", max_attempts=1)
def returns_set() -> object:
    return {1, 2, 3}


@handler("Logs", queue="tests", max_attempts=1)
def logs(lines: int = 2) -> int:
    task = current_task()
    assert task is not None
    for n in range(lines):
        task.log(f"line {n}")
    return lines


@handler("Cooperative", queue="tests", max_attempts=1)
def cooperative(seconds: float = 30.0) -> str:
    """Runs until canceled; checks the cancel flag like a well-behaved long job."""
    task = current_task()
    assert task is not None
    _journal("start")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if task.cancel_requested.wait(0.05):
            break
    return "finished"


# --------------------------------------------------------------------------- fault injection
# Handlers for tests/faults (issue 6). Each misbehaves in one precise, bounded way.


@handler("Drain", queue="faults", max_attempts=20, retry_backoff_seconds=0.05)
def drain(seconds: float = 0.0) -> str:
    """Bulk work for contention, kill storms and restarts; many attempts, so only loss fails."""
    if seconds:
        time.sleep(seconds)
    _journal()
    return "drained"


@handler("HangsInC", queue="faults", max_attempts=1, timeout_seconds=0.5)
def hangs_in_c(seconds: float = 60.0) -> None:
    """Blocks in C (one long sleep), where an injected timeout cannot reach until it returns."""
    _journal("start")
    time.sleep(seconds)
    _journal("end")


@handler("HogsMemory", queue="faults", max_attempts=1)
def hogs_memory(megabytes: int = 64) -> None:
    """Holds a bounded block, then asks for an impossible one: a real MemoryError, no swap."""
    _journal()
    ballast = bytearray(megabytes * 1024 * 1024)
    ballast.extend(bytearray(1 << 62))


# --------------------------------------------------------------------------- poisoned values
# Handlers for issue 9: each returns, raises or logs one value a database cannot take as is.

UNSTORABLE_TEXT = {"nul": "a\x00b", "surrogate": "x\ud800y"}


@handler("LogsUnstorable", queue="poison", max_attempts=1)
def logs_unstorable(kind: str) -> str:
    task = current_task()
    assert task is not None
    task.log(f"before {UNSTORABLE_TEXT[kind]} after")
    return "logged"


@handler("RaisesUnstorable", queue="poison", max_attempts=1)
def raises_unstorable(kind: str) -> None:
    raise ValueError(f"bad {UNSTORABLE_TEXT[kind]} value")


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ fails too")


@handler("RaisesUnprintable", queue="poison", max_attempts=1)
def raises_unprintable() -> None:
    raise _Unprintable()


def _deep(levels: int) -> object:
    value: object = []
    for _ in range(levels):
        value = [value]
    return value


UNSTORABLE_OUTPUT = {
    "nul": lambda: {"text": "a\x00b"},
    "surrogate": lambda: ["\udcff"],
    "huge_int": lambda: 10**5000,
    "nan": lambda: {"x": float("nan")},
    "deep": lambda: _deep(5000),
    "object": lambda: {"when": object()},
    "bytes": lambda: b"\xff",
}


@handler("ReturnsUnstorable", queue="poison", max_attempts=3)
def returns_unstorable(kind: str) -> object:
    return UNSTORABLE_OUTPUT[kind]()


@handler("FailsForever", queue="poison", max_attempts=1100, retry_backoff_seconds=0.0)
def fails_forever() -> None:
    raise RuntimeError("fails on every attempt")


@handler("ReturnsFloats", queue="poison", max_attempts=1)
def returns_floats(values: list[float]) -> list[float]:
    return values


@handler("SnoozesTwice", queue="tests", max_attempts=1)
def snoozes_twice(seconds: float = 0.0) -> int:
    """Snoozes on its first two runs, then succeeds: with one attempt, only if snoozes are free."""
    task = current_task()
    assert task is not None
    runs = Journal.objects.filter(item_id=task.item_id).count()
    _journal()
    if runs < 2:
        raise Snooze(seconds)
    return runs + 1


@handler("GivesUpOnValueError", queue="tests", max_attempts=3, give_up_on=ValueError)
def gives_up_on_value_error(kind: str) -> None:
    _journal()
    raise {"value": ValueError, "key": KeyError}[kind](f"{kind} fails")


@handler(
    "RetriesOnlyTimeouts",
    queue="tests",
    max_attempts=3,
    retry_on=(TimeoutError, ConnectionError),
    retry_backoff_seconds=0.0,
)
def retries_only_timeouts(kind: str) -> None:
    _journal()
    raise {"timeout": TimeoutError, "key": KeyError}[kind](f"{kind} fails")


BACKOFF_CALLS: list[int] = []


def _recorded_backoff(attempt: int) -> float:
    BACKOFF_CALLS.append(attempt)
    return 0.01 * attempt


@handler("OwnBackoff", queue="tests", max_attempts=3, backoff=_recorded_backoff)
def own_backoff() -> None:
    _journal()
    raise RuntimeError("fails on purpose")


def _broken_backoff(attempt: int) -> float:
    raise ZeroDivisionError("a bug in the backoff function")


@handler(
    "BrokenBackoff",
    queue="tests",
    max_attempts=2,
    backoff=_broken_backoff,
    retry_backoff_seconds=0.01,
)
def broken_backoff() -> None:
    _journal()
    raise RuntimeError("fails on purpose")


@handler("UniqueWhileActive", queue="tests", max_attempts=1, unique_while="active")
def unique_while_active(sleep: float = 0.0) -> int:
    if sleep:
        time.sleep(sleep)
    _journal()
    return 1


@handler("UniqueForAnHour", queue="tests", max_attempts=1, unique_for="1h")
def unique_for_an_hour() -> int:
    _journal()
    return 1


@handler("LimitedToTwo", queue="tests", max_attempts=1, concurrency_limit=2)
def limited_to_two(sleep: float = 0.05) -> None:
    """Journals its start and end times, so tests can count how many ran at once."""
    _journal(f"start:{time.time():.6f}")
    time.sleep(sleep)
    _journal(f"end:{time.time():.6f}")


def most_at_once(item_ids: list[int]) -> int:
    """The largest number of these items' runs that overlapped, from their journal."""
    events = []
    for note in Journal.objects.filter(item_id__in=item_ids).values_list("note", flat=True):
        kind, _, stamp = note.partition(":")
        events.append((float(stamp), 1 if kind == "start" else -1))
    running = most = 0
    for _stamp, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        most = max(most, running)
    return most


@handler("Stamp", queue="tests", max_attempts=1)
def stamp(sleep: float = 0.0) -> None:
    """Journals its start and end times; no limit of its own (queue limits and keys apply)."""
    _journal(f"start:{time.time():.6f}")
    time.sleep(sleep)
    _journal(f"end:{time.time():.6f}")


@handler("RateLimited", queue="tests", max_attempts=1, rate_limit="20/s")
def rate_limited() -> None:
    _journal(f"start:{time.time():.6f}")
    _journal(f"end:{time.time():.6f}")


@handler("OnePerKey", queue="tests", max_attempts=1, key_concurrency_limit=1)
def one_per_key(sleep: float = 0.05) -> None:
    _journal(f"start:{time.time():.6f}")
    time.sleep(sleep)
    _journal(f"end:{time.time():.6f}")


@handler("KeyRateLimited", queue="tests", max_attempts=1, key_rate_limit="5/s")
def key_rate_limited() -> None:
    _journal(f"start:{time.time():.6f}")
    _journal(f"end:{time.time():.6f}")


def journal_times(item_ids: list[int], kind: str = "start") -> dict[int, float]:
    """Each item's journaled ``kind`` time (its first attempt's)."""
    times: dict[int, float] = {}
    rows = Journal.objects.filter(item_id__in=item_ids).order_by("pk")
    for item_id, note in rows.values_list("item_id", "note"):
        noted, _, stamp = note.partition(":")
        if noted == kind:
            times.setdefault(item_id, float(stamp))
    return times


def most_started_within(item_ids: list[int], seconds: float = 1.0) -> int:
    """The largest number of these items' starts in any window ``[t, t + seconds)``."""
    starts = sorted(journal_times(item_ids).values())
    most, first = 0, 0
    for last, stamp in enumerate(starts):
        while stamp - starts[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


@handler("KeyedDrain", queue="faults", max_attempts=20, key_concurrency_limit=1)
def keyed_drain(seconds: float = 0.0) -> str:
    """Drain work serialised per concurrency key: journals each attempt's start and end."""
    _journal(f"start:{time.time():.6f}")
    if seconds:
        time.sleep(seconds)
    _journal(f"end:{time.time():.6f}")
    return "drained"


def overlapping_runs(item_ids: list[int]) -> int:
    """How many pairs of these items' finished attempts overlapped in time."""
    spans: dict[tuple[int, int], dict[str, float]] = {}
    rows = Journal.objects.filter(item_id__in=item_ids).values_list("item_id", "attempt", "note")
    for item_id, attempt, note in rows:
        kind, _, stamp = note.partition(":")
        spans.setdefault((item_id, attempt), {})[kind] = float(stamp)
    runs = sorted((s["start"], s["end"]) for s in spans.values() if {"start", "end"} <= set(s))
    return sum(1 for i, (_, end) in enumerate(runs) for start, _ in runs[i + 1 :] if start < end)


@handler("Step", queue="tests", max_attempts=1)
def step(name: str = "", fail: bool = False, sleep: float = 0.0) -> dict[str, object]:
    """A workflow step: journals itself (note: its name), returns its name and its parents'
    outputs, or fails when asked to."""
    if sleep:
        time.sleep(sleep)
    _journal(name)
    if fail:
        raise RuntimeError(f"step {name} fails on purpose")
    task = current_task()
    assert task is not None
    return {"name": name, "parents": task.parent_outputs}


@handler("FaultStep", queue="faults", max_attempts=5, retry_backoff_seconds=0.1)
def fault_step(name: str = "", seconds: float = 0.0) -> dict[str, object]:
    """A workflow step for the fault tests: enough attempts to outlive killed runners."""
    time.sleep(seconds)
    _journal(name)
    task = current_task()
    assert task is not None
    return {"name": name, "parents": len(task.parent_outputs)}
