"""When a schedule fires: a cron expression or an interval, in the schedule's timezone.

Cron expressions have five fields (minute hour day-of-month month day-of-week), or six with
seconds first (``*/10 * * * * *``: every ten seconds); the nicknames ``@hourly``, ``@daily``,
``@weekly``, ``@monthly`` and ``@yearly`` stand for their five fields. They are parsed by
croniter and described by cron-descriptor (the ``schedules`` extra). Intervals need neither:
an interval schedule fires at ``start_at`` (or when it was created) and every
``interval_seconds`` after.

Daylight saving. Cron fields match the wall clock of the schedule's timezone:
- when clocks go forward, a wall-clock time in the skipped hour fires as long after the change
  as it was after the hour's start (``30 2 * * *`` in Europe/Berlin fires at 03:30 CEST on the
  spring change), unless that moment is a fire time already (``*/15`` just goes on);
- when clocks go back, a repeated wall-clock time fires once, on its first pass (02:30 CEST,
  not again at 02:30 CET).
Intervals count real seconds and ignore the clock changes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..exceptions import InvalidValue

NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
EXTRA_HINT = "install the schedules extra: pip install 'django-taskqueue[schedules]'"
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
_TICK = timedelta(microseconds=1)
_NEAR = timedelta(hours=3)  # more than any clock change moves the wall clock


def _croniter() -> Any:
    if importlib.util.find_spec("croniter") is None:
        raise InvalidValue(f"cron: cron schedules need croniter; {EXTRA_HINT}.")
    from croniter import croniter

    return croniter


def expanded(expression: str) -> str:
    """The fields of a cron expression, its nickname replaced."""
    return NICKNAMES.get(expression, expression)


def check_cron(expression: Any) -> str:
    """A cron expression, its spaces tidied; ``InvalidValue`` saying what is wrong otherwise."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidValue("cron: give a cron expression as text, such as '0 2 * * *'.")
    text = (
        " ".join(expression.split()).lower()
        if expression.strip().startswith("@")
        else (" ".join(expression.split()))
    )
    fields = expanded(text).split(" ")
    if text.startswith("@") and text not in NICKNAMES:
        raise InvalidValue(
            f"cron: unknown nickname {text!r}; use one of {', '.join(sorted(NICKNAMES))}."
        )
    if len(fields) not in (5, 6):
        raise InvalidValue(
            f"cron: {text!r} has {len(fields)} field(s); give five (minute hour day month "
            "weekday) or six with seconds first."
        )
    croniter = _croniter()
    try:
        croniter(expanded(text), datetime(2026, 1, 1), second_at_beginning=len(fields) == 6)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidValue(f"cron: {text!r} is not a valid cron expression: {exc}.") from None
    return text


def check_timezone(name: Any) -> str:
    """An IANA timezone name this machine knows; ``InvalidValue`` otherwise."""
    if isinstance(name, str) and name.strip():
        try:
            ZoneInfo(name.strip())
            return name.strip()
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise InvalidValue(
        f"timezone: unknown timezone {name!r}; give an IANA name such as 'Europe/Berlin'."
    )


@dataclass(frozen=True)
class Timing:
    """The fire times of one schedule: ``cron`` or ``interval_seconds``, never both."""

    cron: str = ""
    interval_seconds: int | None = None
    timezone: str = "UTC"
    anchor: datetime | None = None  # intervals count from here (start_at, else creation)
    start_at: datetime | None = None
    end_at: datetime | None = None

    def times_after(self, moment: datetime) -> Iterator[datetime]:
        """The fire times strictly after ``moment``, in order, in UTC, up to ``end_at``."""
        if self.start_at is not None and moment < self.start_at:
            moment = self.start_at - _TICK
        times = self._interval_after(moment) if self.interval_seconds else self._cron_after(moment)
        for time in times:
            if self.end_at is not None and time > self.end_at:
                return
            yield time

    def next_after(self, moment: datetime) -> datetime | None:
        return next(self.times_after(moment), None)

    def times_before(self, moment: datetime) -> Iterator[datetime]:
        """The fire times at or before ``moment``, newest first, down to ``start_at``."""
        if self.end_at is not None and moment > self.end_at:
            moment = self.end_at
        times = (
            self._interval_before(moment) if self.interval_seconds else self._cron_before(moment)
        )
        for time in times:
            if self.start_at is not None and time < self.start_at:
                return
            yield time

    # ------------------------------------------------------------------ intervals
    def _interval_start(self) -> datetime:
        anchor = self.start_at or self.anchor
        if anchor is None:
            raise InvalidValue("interval_seconds: an interval schedule needs a start time.")
        return anchor

    def _interval_after(self, moment: datetime) -> Iterator[datetime]:
        start, step = self._interval_start(), timedelta(seconds=self.interval_seconds or 0)
        k = 0 if moment < start else (moment - start) // step + 1
        while True:
            yield (start + k * step).astimezone(UTC)
            k += 1

    def _interval_before(self, moment: datetime) -> Iterator[datetime]:
        start, step = self._interval_start(), timedelta(seconds=self.interval_seconds or 0)
        if moment < start:
            return
        k = (moment - start) // step
        while k >= 0:
            yield (start + k * step).astimezone(UTC)
            k -= 1

    # ------------------------------------------------------------------ cron
    def _iterator(self, moment: datetime, shift: timedelta) -> tuple[Any, ZoneInfo]:
        """A croniter walking the wall clock from ``moment``; near a clock change, from
        ``shift`` further (the change can put the wall clock an hour out of step)."""
        zone = ZoneInfo(self.timezone)
        near_change = (moment - _NEAR).astimezone(zone).utcoffset() != (
            (moment + _NEAR).astimezone(zone).utcoffset()
        )
        wall = (moment + shift if near_change else moment).astimezone(zone).replace(tzinfo=None)
        fields = expanded(self.cron)
        seconds_first = len(fields.split(" ")) == 6
        return _croniter()(fields, wall, second_at_beginning=seconds_first), zone

    def _cron_after(self, moment: datetime) -> Iterator[datetime]:
        iterator, zone = self._iterator(moment, -_NEAR)
        last = moment
        while True:
            time = iterator.get_next(datetime).replace(tzinfo=zone).astimezone(UTC)
            if time > last:  # fold 0: a skipped time moves forward; a repeated one, first pass
                last = time
                yield time

    def _cron_before(self, moment: datetime) -> Iterator[datetime]:
        iterator, zone = self._iterator(moment + _TICK, _NEAR)
        last = moment + _TICK
        while True:
            time = iterator.get_prev(datetime).replace(tzinfo=zone).astimezone(UTC)
            if time < last:
                last = time
                yield time


def describe(timing: Timing) -> str:
    """A schedule's timing in words: "At 02:00 every day", "Every 30 seconds"."""
    if timing.interval_seconds:
        return f"Every {_duration(timing.interval_seconds)}"
    if importlib.util.find_spec("cron_descriptor") is None:
        return timing.cron
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    fields = expanded(timing.cron)
    text = str(ExpressionDescriptor(fields, options).get_description())
    parts = fields.split(" ")
    minute, hour, day, month, weekday = parts[-5:]
    if minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*"):
        text += " every day"
    return text


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}" if n != 1 else unit
    return f"{seconds} seconds" if seconds != 1 else "second"
