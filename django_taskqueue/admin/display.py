"""Small HTML renderings shared by the item, definition and dashboard pages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from ..validation import cut_at_word

# The stylesheet every taskqueue admin page loads: badges, <pre> blocks, the dashboard.
STYLESHEET = "django_taskqueue/admin.css"

# Where a name may wrap: after . _ - : /, and between the words of CamelCase.
_NAME_BREAK = re.compile(r"(?<=[._\-:/])|(?<=[a-z0-9])(?=[A-Z])")


def status_badge(status: str, label: Any) -> SafeString:
    """A coloured pill; the colour comes from the ``tq-status-<status>`` CSS class."""
    return format_html('<span class="tq-badge tq-status-{}">{}</span>', status, label)


def breakable(name: str) -> SafeString:
    """``SendWelcomeEmail`` that may wrap as ``Send|Welcome|Email`` in a narrow column.

    A browser never breaks inside a word, so a column of long aliases or queue names is as
    wide as the longest; ``<wbr>`` offers the breaks only where the table needs them.
    """
    return mark_safe("<wbr>".join(escape(part) for part in _NAME_BREAK.split(name)))


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


def exact_time(value: datetime | None) -> SafeString | str:
    """``2026-11-02 14:03:07``: a detail page says when to the second."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>', local.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S")
    )


def exact_time_field(model: type[Model], name: str) -> Callable[[Any, Any], SafeString | str]:
    """A ModelAdmin read-only field showing the timestamp ``name`` of ``model`` to the second.

    Django renders read-only times in ``DATETIME_FORMAT``, which in most locales has no
    seconds. Assign it under a name of its own (``created_at_exact = exact_time_field(Item,
    "created_at")``) and list that name in ``fieldsets`` and ``readonly_fields``.
    """

    def show(model_admin: Any, obj: Any) -> SafeString | str:
        return exact_time(getattr(obj, name))

    description = getattr(model._meta.get_field(name), "verbose_name", name)
    return admin.display(description=description, ordering=name)(show)


def relative_time(value: datetime | None, now: datetime | None = None) -> SafeString | str:
    """``3 s ago`` or ``in 4 min 10 s``, to the whole second; the exact time on hover."""
    if value is None:
        return "—"
    seconds = round((value - (now or timezone.now())).total_seconds())
    span = f"{abs(seconds)} s" if abs(seconds) < 60 else short_duration(abs(seconds))
    text = _("in %(span)s") if seconds > 0 else _("%(span)s ago")
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S"),
        text % {"span": span},
    )


def cut_with_title(text: str, limit: int) -> SafeString | str:
    """``text`` cut at a word boundary (``validation.cut_at_word``), the whole of it in the
    title, for hovering."""
    line = " ".join(text.split())
    if not line:
        return "—"
    cut = cut_at_word(line, limit)
    return line if cut == line else format_html('<span title="{}">{}</span>', line, cut)


class ReadOnlyAdminMixin:
    """For rows the queue writes and operators only read (runners, workflows): no add,
    change or delete in the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
