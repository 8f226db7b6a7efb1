"""The ``taskqueue`` subcommands for schedules: ``schedules`` lists them (or shows one with its
next fire times) and ``schedule-fire NAME`` fires one now."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import CommandError, OutputWrapper

from django_taskqueue import audit
from django_taskqueue.models import Schedule
from django_taskqueue.schedules.firing import fire_now
from django_taskqueue.validation import cut_at_word

from .tables import table

UPCOMING = 5


def add_schedule_subcommands(commands: Any) -> None:
    listing = commands.add_parser(
        "schedules", help="Schedules with their next fire times; one in detail by name."
    )
    listing.add_argument("name", nargs="?", help="Show this schedule and its next fire times.")
    fire = commands.add_parser("schedule-fire", help="Fire a schedule now (its timing stays).")
    fire.add_argument("name", help="The schedule's name.")


def _when(moment: datetime | None, schedule: Schedule) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(ZoneInfo(schedule.zone_name)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _named(name: str) -> Schedule:
    schedule = Schedule.objects.filter(name=name).first()
    if schedule is None:
        names = ", ".join(Schedule.objects.values_list("name", flat=True)) or "there are none"
        raise CommandError(f"No schedule named {name!r}. Schedules: {names}.")
    return schedule


class ScheduleSubcommands:
    stdout: OutputWrapper

    def handle_schedules(self, options: dict[str, Any]) -> None:
        if options["name"]:
            self._show(_named(options["name"]))
            return
        rows = [
            [
                s.name,
                s.alias,
                _description(s),
                s.zone_name,
                _when(s.next_fire_at, s) if s.enabled else "disabled",
                _when(s.last_fired_at, s),
                cut_at_word(s.last_error, 40) if s.last_error else "",
            ]
            for s in Schedule.objects.order_by("name")
        ]
        if not rows:
            self.stdout.write("No schedules. Declare them in TASKQUEUE['SCHEDULES'] or the admin.")
            return
        headers = ["NAME", "ALIAS", "WHEN", "TIMEZONE", "NEXT FIRE", "LAST FIRED", "ERROR"]
        self.stdout.write(table(headers, rows))

    def _show(self, schedule: Schedule) -> None:
        lines = [
            f"{schedule.name}: {schedule.alias} {_description(schedule)} ({schedule.zone_name})",
            f"  {'cron ' + schedule.cron if schedule.cron else 'interval'}"
            f"{'' if schedule.cron else f' {schedule.interval_seconds} s'}, "
            f"misfire {schedule.misfire}, {'enabled' if schedule.enabled else 'disabled'}",
            f"  last fired: {_when(schedule.last_fired_at, schedule)}; "
            f"items fired: {schedule.items.count()}",
        ]
        if schedule.last_error:
            lines.append(f"  last error: {schedule.last_error}")
        lines.append("  next fire times:" if schedule.enabled else "  next fire times if enabled:")
        lines += [f"    {_when(when, schedule)}" for when in schedule.upcoming(UPCOMING)]
        self.stdout.write("\n".join(lines))

    def handle_schedule_fire(self, options: dict[str, Any]) -> None:
        schedule = _named(options["name"])
        item = fire_now(schedule)
        audit.record(
            audit.command_line_actor(),
            Schedule,
            [(schedule.pk, schedule.name)],
            f"Fired now: item #{item.pk}",
        )
        self.stdout.write(
            f"Fired schedule {schedule.name}: item #{item.pk} ({schedule.alias} on queue "
            f"{item.queue_name})."
        )


def _description(schedule: Schedule) -> str:
    try:
        return schedule.description
    except Exception as exc:  # noqa: BLE001 - a broken row is listed, not fatal
        return f"(cannot be read: {exc})"
