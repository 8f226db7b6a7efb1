"""Checks on names and parameters, done before anything is written."""

from __future__ import annotations

import json
import re
from typing import Any

from .conf import app_settings
from .exceptions import InvalidName, InvalidParameters

# Aliases and queue names appear in URLs, log lines, NOTIFY payloads and shell commands:
# a conservative character set keeps every one of those places safe without escaping.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
NAME_HELP = "1-100 characters: letters, digits, '_', '.', '-', starting with a letter or digit"


def validate_name(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidName(f"Invalid {kind} {value!r}: use {NAME_HELP}.")
    return value


def check_json_value(value: Any, path: str) -> None:
    """Reject what JSON would silently alter or what PostgreSQL's jsonb refuses."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidParameters(f"Parameter key {key!r} at {path} is not a string.")
            check_json_value(key, f"{path} key")
            check_json_value(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json_value(item, f"{path}[{index}]")
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidParameters(f"String at {path} contains a NUL character.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidParameters(f"String at {path} is not valid Unicode text.") from exc
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidParameters(f"Number at {path} is NaN or infinite; JSON has no such value.")
    elif value is not None and not isinstance(value, (bool, int)):
        raise InvalidParameters(
            f"Value at {path} of type {type(value).__name__} is not JSON-serialisable."
        )


def encode_parameters(parameters: Any) -> str:
    """Validate ``parameters`` and return their JSON text; raise ``InvalidParameters``."""
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise InvalidParameters(
            f"Parameters must be a JSON object (a dict of keyword arguments), "
            f"not {type(parameters).__name__}."
        )
    try:
        check_json_value(parameters, "parameters")
        text = json.dumps(parameters, allow_nan=False, separators=(",", ":"))
    except RecursionError as exc:
        raise InvalidParameters("Parameters are nested too deeply.") from exc
    limit = app_settings.MAX_PARAMETERS_BYTES
    size = len(text.encode("utf-8"))
    if size > limit:
        raise InvalidParameters(f"Parameters are {size} bytes as JSON; the limit is {limit}.")
    return text
