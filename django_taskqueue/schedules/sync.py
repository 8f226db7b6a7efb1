"""Schedules declared in code, ``TASKQUEUE["SCHEDULES"]``, brought into the database.

Like definitions, code only seeds them: a sync creates the schedules that have no row yet and
leaves the others as operators have them (what operators edit wins). ``reset`` writes the
declared fields back over the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..conf import app_settings
from ..models import Schedule
from .checks import InvalidSchedule, check_schedule


@dataclass
class ScheduleSyncReport:
    created: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"schedules: {len(self.created)} created, {len(self.kept)} kept as they are"]
        if self.reset:
            parts.append(f"reset to the code's: {', '.join(self.reset)}")
        if self.created:
            parts.append(f"created: {', '.join(self.created)}")
        return "; ".join(parts)


def declared_schedules() -> dict[str, dict[str, Any]]:
    """``TASKQUEUE["SCHEDULES"]``, every entry checked: name to fields."""
    declared = app_settings.SCHEDULES
    if not isinstance(declared, dict):
        raise InvalidSchedule(
            "SCHEDULES", "TASKQUEUE['SCHEDULES'] must map schedule names to their fields."
        )
    checked = {}
    for name, fields in declared.items():
        if not isinstance(fields, dict):
            raise InvalidSchedule(
                "SCHEDULES", f"the schedule {name!r} must be a dict of fields, not {fields!r}."
            )
        try:
            checked[name] = check_schedule({"name": name, **fields})
        except InvalidSchedule as exc:
            raise InvalidSchedule(
                exc.field, f"in TASKQUEUE['SCHEDULES'][{name!r}]: {exc}"
            ) from None
    return checked


def sync_schedules(using: str, *, reset: bool = False) -> ScheduleSyncReport:
    report = ScheduleSyncReport()
    existing = {row.name: row for row in Schedule.objects.using(using)}
    for name, fields in declared_schedules().items():
        row = existing.get(name)
        if row is None:
            Schedule(**fields).save(using=using)
            report.created.append(name)
        elif reset:
            for key, value in fields.items():
                setattr(row, key, value)
            row.save(using=using)
            report.reset.append(name)
        else:
            report.kept.append(name)
    return report
