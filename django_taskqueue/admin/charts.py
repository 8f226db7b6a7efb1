"""Server-rendered bar charts: numbers in, rectangle geometry out, drawn as inline SVG.

No JavaScript and nothing fetched from a CDN, so the dashboard works on a locked-down network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MinuteBar:
    """One minute: failures stacked under the other finished items."""

    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    completed: int
    failed: int
    minutes_ago: int


@dataclass(frozen=True)
class MinuteChart:
    width: int
    height: int
    peak: int
    bars: list[MinuteBar]


def minute_chart(
    completed: list[int], failed: list[int], *, width: int = 240, height: int = 48
) -> MinuteChart:
    """Bars for per-minute counts, oldest minute first (as ``queue_overview`` gives them).

    ``completed`` counts every finished item, failed ones included; ``failed`` is the red part.
    """
    peak = max(completed, default=0)
    slot = width / max(len(completed), 1)
    scale = (height - 1) / peak if peak else 0.0
    bars = []
    for index, (total, failures) in enumerate(zip(completed, failed, strict=True)):
        failed_height = failures * scale
        ok_height = (total - failures) * scale
        bars.append(
            MinuteBar(
                x=round(index * slot + 1, 2),
                width=round(max(slot - 2, 1), 2),
                ok_y=round(height - failed_height - ok_height, 2),
                ok_height=round(ok_height, 2),
                failed_y=round(height - failed_height, 2),
                failed_height=round(failed_height, 2),
                completed=total,
                failed=failures,
                minutes_ago=len(completed) - index - 1,
            )
        )
    return MinuteChart(width=width, height=height, peak=peak, bars=bars)


def summed(series: list[list[int]], length: int) -> list[int]:
    """Element-wise sum of equally long series (all queues together)."""
    return [sum(values) for values in zip(*series, strict=True)] if series else [0] * length
