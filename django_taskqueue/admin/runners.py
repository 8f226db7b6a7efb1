"""Runner processes, read-only: they register and heartbeat themselves."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import Runner
from .filters import CheckedLookupsMixin


@admin.register(Runner)
class RunnerAdmin(CheckedLookupsMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "hostname",
        "pid",
        "queues",
        "concurrency",
        "started_at",
        "heartbeat_at",
        "stopped_at",
    )
    list_filter = ("hostname",)
    search_fields = ("=id", "hostname")
    ordering = ("-heartbeat_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
