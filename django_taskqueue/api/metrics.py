"""Prometheus text exposition (format 0.0.4) of the numbers in ``stats.queue_overview()``.

Everything is read from the database at scrape time, so every metric is a gauge: the
finished/failed figures are counts over a recent window, not monotonic counters (pruning and
requeues would make counters go backwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ..stats import QueueOverview

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    """Backslash, double quote and line feed are the characters the format requires escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    # repr() keeps every digit (":g" would round large counts); the format accepts both forms.
    number = repr(value)
    if labels:
        text = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
        return f"{name}{{{text}}} {number}"
    return f"{name} {number}"


def _family(name: str, help_text: str, samples: Iterable[str]) -> Iterator[str]:
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} gauge"
    yield from samples


def render(queues: list[QueueOverview], live_runners: int, window_minutes: int) -> str:
    per_queue: list[tuple[str, str, Callable[[QueueOverview], float]]] = [
        (
            "taskqueue_items_finished_recent",
            f"Items that finished (success, failed or canceled) in the last {window_minutes} "
            "minutes, counted from completed_at; a window count, not a total.",
            lambda q: q.completed_last_window,
        ),
        (
            "taskqueue_items_failed_last_hour",
            "Items that failed for good in the last hour; a window count, not a total.",
            lambda q: q.failed_last_hour,
        ),
        (
            "taskqueue_items_stuck",
            "Running items whose runner stopped heartbeating.",
            lambda q: q.stuck,
        ),
        (
            "taskqueue_oldest_queued_age_seconds",
            "Age of the oldest item that is due and waiting; 0 when none is waiting.",
            lambda q: round(q.oldest_queued_age_seconds or 0.0, 3),
        ),
        (
            "taskqueue_queue_paused",
            "1 when the queue is paused (runners do not claim from it), else 0.",
            lambda q: int(q.paused),
        ),
    ]
    lines = list(
        _family(
            "taskqueue_items",
            "Items in the queue table by queue and status (soft-deleted items excluded).",
            (
                _sample("taskqueue_items", {"queue": q.name, "status": status}, count)
                for q in queues
                for status, count in q.counts.items()
            ),
        )
    )
    for name, help_text, value_of in per_queue:
        lines += _family(
            name, help_text, (_sample(name, {"queue": q.name}, value_of(q)) for q in queues)
        )
    lines += _family(
        "taskqueue_runners_live",
        "Runner processes with a recent heartbeat.",
        [_sample("taskqueue_runners_live", {}, live_runners)],
    )
    return "\n".join(lines) + "\n"
