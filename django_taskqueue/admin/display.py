"""Small HTML renderings shared by the item, definition and dashboard pages."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

# The stylesheet every taskqueue admin page loads: badges, <pre> blocks, the dashboard.
STYLESHEET = "django_taskqueue/admin.css"


def status_badge(status: str, label: Any) -> SafeString:
    """A coloured pill; the colour comes from the ``tq-status-<status>`` CSS class."""
    return format_html('<span class="tq-badge tq-status-{}">{}</span>', status, label)


def pretty_json(value: Any) -> SafeString:
    if value is None:
        return format_html('<span class="quiet">{}</span>', "—")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="tq-pre">{}</pre>', text)


def text_block(text: str, css_class: str = "tq-pre") -> SafeString:
    """Multi-line text (logs, tracebacks) kept readable: monospace, wrapped, scrollable."""
    if not text:
        return format_html('<span class="quiet">{}</span>', "—")
    return format_html('<pre class="{}">{}</pre>', css_class, text)


def short_duration(value: timedelta | float | None) -> str:
    """``1.25 s``, ``3 min 4 s``, ``2 h 5 min``: the precision an operator reads at a glance."""
    if value is None:
        return "—"
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def compact_time(value: datetime | None) -> SafeString | str:
    """Today's times as ``14:03:07``, older ones as ``2026-11-02 14:03``; full value on hover.

    A change list with four timestamp columns must fit a laptop screen.
    """
    if value is None:
        return "—"
    local = timezone.localtime(value)
    shown = (
        local.strftime("%H:%M:%S")
        if local.date() == timezone.localdate()
        else local.strftime("%Y-%m-%d %H:%M")
    )
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(), local, shown)
