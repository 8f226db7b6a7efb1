"""Server-rendered bar charts: numbers in, rectangle geometry out, drawn as inline SVG.

Nothing fetched from a CDN and no charting library, so the dashboard works on a locked-down
network; the dashboard's script only swaps in a freshly rendered chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

# Under the bars, a clock time every this many minutes.
TICK_MINUTES = 5
AXIS_HEIGHT = 14  # room for the labels, in pixels
LABEL_HALF_WIDTH = 15  # half of "14:05" at the axis's font size: keeps edge labels whole


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
    minute: str  # the clock time, "14:03"


@dataclass(frozen=True)
class AxisTick:
    x: float
    label: str


@dataclass(frozen=True)
class MinuteChart:
    width: int
    height: int  # of the bars; the axis labels are below
    peak: int
    bars: list[MinuteBar]
    ticks: list[AxisTick]

    @property
    def full_height(self) -> int:
        return self.height + AXIS_HEIGHT if self.ticks else self.height


def minute_chart(
    completed: list[int],
    failed: list[int],
    first_minute: datetime,
    *,
    width: int = 240,
    height: int = 48,
    labelled: bool = False,
) -> MinuteChart:
    """Bars for per-minute counts, ``first_minute`` first (as ``queue_overview`` gives them).

    ``completed`` counts every finished item, failed ones included; ``failed`` is the red part.
    A ``labelled`` chart has clock times under its bars; every bar tells its minute on hover.
    """
    peak = max(completed, default=0)
    slot = width / max(len(completed), 1)
    scale = (height - 1) / peak if peak else 0.0
    bars, ticks = [], []
    for index, (total, failures) in enumerate(zip(completed, failed, strict=True)):
        minute = timezone.localtime(first_minute + timedelta(minutes=index))
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
                minute=minute.strftime("%H:%M"),
            )
        )
        if labelled and minute.minute % TICK_MINUTES == 0:
            middle = index * slot + slot / 2
            x = min(max(middle, LABEL_HALF_WIDTH), width - LABEL_HALF_WIDTH)
            ticks.append(AxisTick(x=round(x, 2), label=minute.strftime("%H:%M")))
    return MinuteChart(width=width, height=height, peak=peak, bars=bars, ticks=ticks)


def summed(series: list[list[int]], length: int) -> list[int]:
    """Element-wise sum of equally long series (all queues together)."""
    return [sum(values) for values in zip(*series, strict=True)] if series else [0] * length
