"""The one set of rules: each check accepts its edges and refuses just past them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from django_taskqueue.exceptions import InvalidName, InvalidParameters, InvalidValue
from django_taskqueue.jsonvalues import MAX_JSON_DEPTH, encode_json, encode_parameters
from django_taskqueue.validation import (
    check_delay,
    check_integer,
    check_run_at,
    check_seconds,
    parse_duration,
    parse_item_id,
    shown,
    storable_text,
    validate_name,
)


@pytest.mark.parametrize("name", ["a", "emails", "Q-1.b_c", "x" * 100])
def test_names_inside_the_pattern(name):
    assert validate_name(name, "queue name") == name


@pytest.mark.parametrize("name", ["", "emails\n", "a b", "-x", "x" * 101, "é", "a\x00", 5, None])
def test_names_outside_the_pattern(name):
    with pytest.raises(InvalidName):
        validate_name(name, "queue name")


@pytest.mark.parametrize(
    "value",
    [1e20, -1e20, 1.5e300, 5e-324, 1e-7, 1e16, 0.1, 123456789.0, 1.7976931348623157e308],
)
def test_floats_are_written_so_that_postgresql_reads_them_back_as_floats(value):
    text = encode_json({"x": value}, "parameters", 10_000)
    assert "e" not in text  # positional: jsonb keeps the fraction, so it stays a float
    back = json.loads(text)["x"]
    assert isinstance(back, float) and back == value


def test_json_without_floats_is_plain_json_dumps():
    value = {"a": [1, "ü", None, True], "b": {"c": -5}}
    assert encode_json(value, "parameters", 1000) == json.dumps(value, separators=(",", ":"))


def test_nesting_and_integers_are_bounded():
    deep: object = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        deep = [deep]
    encode_json(deep, "output", 10**6)
    with pytest.raises(InvalidValue, match="nested too deeply"):
        encode_json([deep], "output", 10**6)
    encode_json(10**300 - 1, "output", 10**6)
    with pytest.raises(InvalidValue, match="300 digits"):
        encode_json(10**300, "output", 10**6)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"s": "a\x00"}, "NUL"),
        ({"s": "\udc80"}, "lone surrogate"),
        ({"\ud800": 1}, "lone surrogate"),
        ({"x": math.nan}, "NaN"),
        ({1: "a"}, "not a string"),
        ({"x": {1, 2}}, "set"),
    ],
)
def test_json_refusals_name_the_path(value, fragment):
    with pytest.raises(InvalidParameters, match=fragment) as excinfo:
        encode_parameters(value)
    assert "parameters" in str(excinfo.value)


def test_run_at_bounds_and_kinds():
    assert check_run_at(datetime(1970, 1, 1, tzinfo=UTC)) == datetime(1970, 1, 1, tzinfo=UTC)
    minus_five = timezone(timedelta(hours=-5))
    assert check_run_at(datetime(2999, 12, 31, 18, 59, tzinfo=minus_five)).year == 2999
    for bad in (
        datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2999, 12, 31, 19, 0, tzinfo=minus_five),  # 3000-01-01 UTC
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(2030, 1, 1),
        "2030-01-01",
        1_900_000_000,
    ):
        with pytest.raises(InvalidParameters):
            check_run_at(bad)


@pytest.mark.parametrize("delay", [0, 1.5, Decimal("2.5"), timedelta(minutes=3)])
def test_delays_that_are_accepted(delay):
    assert check_delay(delay) >= timedelta(0)


@pytest.mark.parametrize("delay", [-1, math.inf, math.nan, 10**400, "5", True, None])
def test_delays_that_are_refused(delay):
    with pytest.raises(InvalidParameters, match="Delay"):
        check_delay(delay)


def test_numbers_in_range():
    assert check_integer(5, "concurrency", 1, 10) == 5
    with pytest.raises(InvalidValue, match="out of range"):
        check_integer(11, "concurrency", 1, 10)
    with pytest.raises(InvalidValue, match="whole number"):
        check_integer(True, "concurrency", 1, 10)
    assert check_seconds(0, "grace") == 0.0
    for bad in (-0.1, math.nan, math.inf, "1", 10**400):
        with pytest.raises(InvalidValue):
            check_seconds(bad, "grace")


def test_durations_and_ids():
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1.5d") == timedelta(hours=36)
    for bad in ("30", "-5s", "99999999999d", "1 d", "5w"):
        with pytest.raises(InvalidValue):
            parse_duration(bad)
    assert parse_item_id("42") == 42 and parse_item_id(2**63 - 1) == 2**63 - 1
    for bad in ("0", "-1", "1.5", "abc", "9" * 20, "١٢", 2**63, True):
        with pytest.raises(InvalidValue):
            parse_item_id(bad)


def test_storable_text_and_shown():
    assert storable_text("a\x00b\ud800c") == ("a\ufffdb\ufffdc", 2)
    assert storable_text("fine") == ("fine", 0)
    assert shown(10**5000).startswith("<int>")
    assert len(shown("x" * 1000)) == 60
