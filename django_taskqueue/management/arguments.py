"""Argument types shared by the management commands: the library's checks, as argparse types.

Every duration option takes a unit (``500ms``, ``30s``, ``5m``, ``12h``, ``1d``); an option
whose name or help gives a unit (``--grace-seconds``, ``--unstuck-minutes``) also takes a bare
number in that unit, so existing command lines keep working.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django_taskqueue.exceptions import TaskQueueError
from django_taskqueue.jsonvalues import decode_json_text
from django_taskqueue.limits import check_rate_limit, concurrency_limit_from_text
from django_taskqueue.validation import (
    DURATION_UNITS,
    parse_duration,
    parse_item_id,
    parse_item_ids,
    validate_name,
)


def argument_type(check: Callable[[str], Any], name: str | None = None) -> Callable[[str], Any]:
    """An argparse ``type`` from a validation check: its message becomes argparse's."""

    def parse(text: str) -> Any:
        try:
            return check(text)
        except TaskQueueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name or check.__name__  # argparse names the type in some messages
    return parse


def duration_in(unit: str | None) -> Callable[[str], Any]:
    """A duration option: the number of ``unit`` it amounts to (a float), or a ``timedelta``
    when the option has no unit of its own and a unit is required."""

    def parse(text: str) -> float | timedelta:
        length = parse_duration(text, bare_unit=unit)
        return length if unit is None else length.total_seconds() / DURATION_UNITS[unit]

    return argument_type(parse, "duration")


json_object = argument_type(lambda text: decode_json_text(text, "parameters"), "json_object")
item_id = argument_type(parse_item_id)
workflow_id = argument_type(lambda text: parse_item_id(text, what="A workflow id"), "workflow_id")
item_ids = argument_type(parse_item_ids)
queue_name = argument_type(lambda text: validate_name(text, "queue name"), "queue_name")
alias_name = argument_type(lambda text: validate_name(text, "alias"), "alias_name")


def _none_as_empty(text: str) -> str:
    """``none`` on the command line lifts a limit, as an empty form field does."""
    return "" if text.strip().lower() == "none" else text


concurrency_limit = argument_type(
    lambda text: concurrency_limit_from_text(_none_as_empty(text)), "concurrency_limit"
)
rate_limit = argument_type(lambda text: check_rate_limit(_none_as_empty(text)), "rate_limit")
