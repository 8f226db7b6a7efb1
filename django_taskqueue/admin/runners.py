"""Runner processes, read-only: they register and heartbeat themselves."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import Runner
from .display import (
    STYLESHEET,
    ReadOnlyAdminMixin,
    compact_time,
    exact_time_field,
    relative_time,
)
from .filters import CheckedLookupsMixin


@admin.register(Runner)
class RunnerAdmin(ReadOnlyAdminMixin, CheckedLookupsMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "hostname",
        "pid",
        "queue_names",
        "concurrency",
        "started_column",
        "heartbeat_column",
        "stopped_column",
    )
    list_filter = ("hostname",)
    search_fields = ("=id", "hostname")
    ordering = ("-heartbeat_at",)
    fields = (
        "id",
        "hostname",
        "pid",
        "queue_names",
        "concurrency",
        "started_at_exact",
        "heartbeat_at_exact",
        "stopped_at_exact",
    )
    readonly_fields = fields

    class Media:
        css = {"all": (STYLESHEET,)}

    @admin.display(description=_("queues"))
    def queue_names(self, runner: Runner) -> str:
        return ", ".join(runner.queues) or "—"

    @admin.display(description=_("started"), ordering="started_at")
    def started_column(self, runner: Runner) -> str:
        return compact_time(runner.started_at)

    @admin.display(description=_("last heartbeat"), ordering="heartbeat_at")
    def heartbeat_column(self, runner: Runner) -> str:
        return relative_time(runner.heartbeat_at)

    @admin.display(description=_("stopped"), ordering="stopped_at")
    def stopped_column(self, runner: Runner) -> str:
        return compact_time(runner.stopped_at)

    started_at_exact = exact_time_field(Runner, "started_at")
    heartbeat_at_exact = exact_time_field(Runner, "heartbeat_at")
    stopped_at_exact = exact_time_field(Runner, "stopped_at")
