"""Bringing definition rows in line with the handlers the code registers.

Decorator arguments only seed a definition row; afterwards the row belongs to operators. So a
sync creates missing rows and refreshes ``handler`` (the dotted path, which only code knows) but
keeps every value an operator may have edited, unless ``reset`` asks to reapply the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import TaskDefinition
from .registry import all_specs


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # soft-deleted rows, left deleted
    orphaned: list[str] = field(default_factory=list)  # rows no registered handler serves

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        ]
        for label, aliases in (
            ("created", self.created),
            ("updated", self.updated),
            ("deleted, left alone", self.deleted),
            ("no registered handler", self.orphaned),
        ):
            if aliases:
                parts.append(f"{label}: {', '.join(aliases)}")
        return "; ".join(parts)


def sync_definitions(*, reset: bool = False) -> SyncReport:
    """Create a row for every registered handler and refresh the rows that exist.

    Without ``reset`` only ``handler`` is refreshed; with it, every decorator default (queue,
    priority, attempts, backoff, timeout, title, description) is written back. ``is_active`` and
    soft deletion are operator decisions and are never touched.
    """
    report = SyncReport()
    rows = {row.alias: row for row in TaskDefinition.all_objects.all()}
    for spec in all_specs():
        row = rows.pop(spec.alias, None)
        if row is None:
            TaskDefinition.create_from_spec(spec)
            report.created.append(spec.alias)
            continue
        if row.deleted_at is not None:
            report.deleted.append(spec.alias)
            continue
        wanted = TaskDefinition.fields_from_spec(spec) if reset else {"handler": spec.path}
        changed = [name for name, value in wanted.items() if getattr(row, name) != value]
        if not changed:
            report.unchanged.append(spec.alias)
            continue
        for name in changed:
            setattr(row, name, wanted[name])
        row.save(update_fields=[*changed, "updated_at"])
        report.updated.append(spec.alias)
    report.orphaned = sorted(alias for alias, row in rows.items() if row.deleted_at is None)
    return report
