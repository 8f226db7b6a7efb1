"""JSON values that read back exactly as they were written, on SQLite and on PostgreSQL.

Parameters and output go through ``encode_json``: it refuses what JSON would alter or what a
database refuses (NaN, NUL characters, lone surrogates, non-string keys, deep nesting, huge
integers) with an ``InvalidValue`` that names the path, and writes floats so that PostgreSQL's
``jsonb`` gives them back as floats. The rules are listed in docs/settings.md#limits.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from .conf import app_settings
from .exceptions import InvalidParameters, InvalidValue
from .validation import UNSTORABLE, shown, storable_text

# JSON bounds. Deeper nesting than this is almost always a bug or an attack, and PostgreSQL's
# parser has a stack limit of its own. Python's json module cannot read back integers of over
# 4,300 digits; 300 digits cover every magnitude a float can have, and more than anyone needs.
MAX_JSON_DEPTH = 100
MAX_INTEGER_DIGITS = 300
_INTEGER_LIMIT = 10**MAX_INTEGER_DIGITS
MAX_PATH_TEXT = 200  # characters of a value's path an error message shows


def _path_text(path: tuple[Any, ...] | None) -> str:
    """``parameters.user[2]`` from the steps ``(((None, "parameters"), ".user"), "[2]")``.

    Keys are the caller's text, so the path is made safe to show anywhere (a page, a log, a
    JSON error): NUL and lone surrogates become U+FFFD, and a long path keeps its end.
    """
    parts: list[str] = []
    while path is not None:
        path, step = path
        parts.append(step)
    text = storable_text("".join(reversed(parts)))[0]
    return text if len(text) <= MAX_PATH_TEXT else f"…{text[-MAX_PATH_TEXT:]}"


def _check_json(
    value: Any, what: str, path: tuple[Any, ...] | None, depth: int, error: type[InvalidValue]
) -> bool:
    """Refuse what JSON would alter or what the database refuses; return whether a float
    needs positional notation to survive PostgreSQL (see ``_float_text``).

    ``path`` is a linked list of steps, turned into text only for the message of an error.
    """
    if depth > MAX_JSON_DEPTH:
        raise error(f"The {what} are nested too deeply (more than {MAX_JSON_DEPTH} levels).")
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            where = _path_text(path)
            if "\x00" in value:
                raise error(f"String at {where} contains a NUL character.")
            raise error(f"String at {where} is not valid Unicode text (a lone surrogate).")
        return False
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        if not -_INTEGER_LIMIT < value < _INTEGER_LIMIT:
            raise error(f"Integer at {_path_text(path)} has more than {MAX_INTEGER_DIGITS} digits.")
        return False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(f"Number at {_path_text(path)} is NaN or infinite; JSON has no such value.")
        return "e" in float.__repr__(value)
    positional = False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"Key {shown(key)} at {_path_text(path)} is not a string.")
            step = (path, f".{key}")
            positional |= _check_json(key, what, step, depth + 1, error)
            positional |= _check_json(item, what, step, depth + 1, error)
        return positional
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            positional |= _check_json(item, what, (path, f"[{index}]"), depth + 1, error)
        return positional
    raise error(
        f"Value at {_path_text(path)} of type {type(value).__name__} is not JSON-serialisable."
    )


def _float_text(value: float) -> str:
    """A float in positional notation with a fraction: ``1e+20`` becomes
    ``100000000000000000000.0``. PostgreSQL's jsonb stores numbers as ``numeric``, which
    prints ``1e20`` back as the integer ``100000000000000000000``; with the ``.0`` it keeps
    the scale, so the value reads back as the same float."""
    text = float.__repr__(value)
    if "e" not in text:
        return text
    digits = format(Decimal(text), "f")
    return digits if "." in digits else f"{digits}.0"


def _positional_json(value: Any) -> str:
    """JSON text like ``json.dumps``, with every float written by ``_float_text``."""
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, dict):
        members = (f"{json.dumps(key)}:{_positional_json(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_positional_json(item) for item in value) + "]"
    return json.dumps(value)


def encode_json(
    value: Any, what: str, limit: int, error: type[InvalidValue] = InvalidParameters
) -> str:
    """Check ``value`` and return JSON text that reads back equal on SQLite and PostgreSQL.

    The one exception: PostgreSQL has no negative zero, so ``-0.0`` reads back as ``0.0``
    there. Object key order is not kept on PostgreSQL (jsonb sorts keys); equality holds.
    """
    positional = _check_json(value, what, (None, what), 0, error)
    text = (
        _positional_json(value)
        if positional
        else json.dumps(value, allow_nan=False, separators=(",", ":"))
    )
    if len(text) > limit:  # ensure_ascii: the text is ASCII, one byte per character
        raise error(f"The {what} are {len(text)} bytes as JSON; the limit is {limit}.")
    return text


def encode_parameters(parameters: Any) -> str:
    """Validate ``parameters`` and return their JSON text; raise ``InvalidParameters``."""
    if parameters is None or (type(parameters) is dict and not parameters):
        return "{}"
    if not isinstance(parameters, dict):
        raise InvalidParameters(
            f"Parameters must be a JSON object (a dict of keyword arguments), "
            f"not {type(parameters).__name__}."
        )
    return encode_json(parameters, "parameters", app_settings.MAX_PARAMETERS_BYTES)


def decode_json_text(text: str, what: str, error: type[InvalidValue] = InvalidValue) -> Any:
    """Parse JSON typed by a person (admin form, CLI): any failure is an ``error``.

    ``json.loads`` raises ``RecursionError`` on deep nesting and a plain ``ValueError`` for
    integers of over 4,300 digits, neither of which is a ``JSONDecodeError``.
    """
    try:
        return json.loads(text, parse_constant=refuse_json_constant)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise error(f"The {what} are not valid JSON: {reason}.") from None


def refuse_json_constant(name: str) -> None:
    """``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")
