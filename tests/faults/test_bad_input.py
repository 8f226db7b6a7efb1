"""Scenario 6: generated garbage through every door that writes items.

The guarantee is the same at each door: a clean item, or a clear ``TaskQueueError`` (HTTP 4xx
with the JSON error shape) and not one row written. Never a 500, never a half-written item.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from django_taskqueue import TaskQueueError, enqueue_by_alias
from django_taskqueue.api.auth import mint_token
from django_taskqueue.models import QueueItem
from tests.conftest import ROOT

from .conftest import scaled

FUZZ = settings(
    max_examples=scaled(60),
    deadline=None,
    database=None,  # no .hypothesis directory in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE_TEXT = [
    "",
    "Record",
    "Drain",
    "faults",
    "x" * 101,
    "a'; DROP TABLE task_queue; --",
    "$(touch /tmp/pwned)",
    "`id`",
    "a b",
    "a\nb",
    "a\x00b",
    "\ud800",
    "caf\udce9",
    "Ｒecord",
    "../etc/passwd",
    "-rf",
]
names = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=120))
lone_surrogates = st.sampled_from(["\ud800", "x\udfff", "\udcff\udcfe"])
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([299, 300, 301, 4000]).map(lambda digits: 10 ** (digits - 1)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e20, -0.0, 5e-324, 1.7976931348623157e308, 1e16, 123456789.0]),
    st.text(max_size=50),
    lone_surrogates,
    st.just("\x00"),
)
odd_keys = st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans(), lone_surrogates)
parameters = st.one_of(
    st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(odd_keys, children, max_size=4)
        ),
        max_leaves=20,
    ),
    st.dictionaries(st.text(max_size=10), json_scalars, max_size=5),
    st.builds(lambda n: {"huge": "x" * n}, st.sampled_from([1024, 1024 * 1024, 3 * 1024 * 1024])),
    st.builds(lambda depth: {"deep": nested(depth)}, st.sampled_from([50, 900, 5000])),
    st.just({"set": {1, 2}}),
    st.just({"bytes": b"\xff\xfe"}),
    st.just({"object": object()}),
)
priorities = st.one_of(
    st.none(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=5),
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def reads_back_intact(sent: Any, stored: Any) -> bool:
    """``stored`` is ``sent`` after a round trip through the database, types included.

    Plain ``==`` is not enough: ``1e20 == 10**20`` in Python, so a float that came back as an
    integer would pass. The documented changes are allowed and no others: tuples come back
    as lists, and on PostgreSQL ``-0.0`` comes back as ``0.0``.
    """
    if isinstance(sent, bool) or sent is None or isinstance(sent, str):
        return type(stored) is type(sent) and stored == sent
    if isinstance(sent, int):
        return type(stored) is int and stored == sent
    if isinstance(sent, float):
        if type(stored) is not float or stored != sent:
            return False
        same_sign = math.copysign(1, stored) == math.copysign(1, sent)
        return same_sign or (sent == 0 and connection.vendor == "postgresql")
    if isinstance(sent, (list, tuple)):
        return (
            isinstance(stored, list)
            and len(stored) == len(sent)
            and all(reads_back_intact(a, b) for a, b in zip(sent, stored, strict=True))
        )
    if isinstance(sent, dict):
        return (
            isinstance(stored, dict)
            and set(stored) == set(sent)
            and all(reads_back_intact(sent[key], stored[key]) for key in sent)
        )
    return False


def as_sent(params_text: str) -> Any:
    """The parameters a door was given as JSON text; none (empty or ``null``) means ``{}``."""
    value = json.loads(params_text or "null")
    return {} if value is None else value


def item_count() -> int:
    return QueueItem.all_objects.count()


@pytest.mark.django_db
@FUZZ
@given(alias=names, params=parameters, queue=st.one_of(st.none(), names), priority=priorities)
@example(alias="Record", params={"value": [1, "\u00fc", None]}, queue="faults", priority=5)
def test_enqueue_by_alias_makes_a_clean_item_or_raises_a_clear_error(
    alias, params, queue, priority
):
    """Anything but a ``TaskQueueError`` escaping, or a row written despite one, fails."""
    before = item_count()
    try:
        with transaction.atomic():
            item = enqueue_by_alias(alias, params, queue_name=queue, priority=priority)
    except TaskQueueError as exc:
        assert str(exc)
        assert item_count() == before
        return
    assert item_count() == before + 1
    stored = QueueItem.objects.get(pk=item.pk)
    assert reads_back_intact(params or {}, stored.parameters), (params, stored.parameters)
    assert stored.queue_name == (queue or item.definition.queue_name)
    assert stored.status == QueueItem.Status.QUEUED


@pytest.fixture
def api_client(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("fuzzer", "f@example.com", "pw")
    return Client(HTTP_AUTHORIZATION=f"Bearer {mint_token(user)}")


def _surrogate_safe_dumps(value: Any) -> bytes:
    """JSON text as a client might send it: lone surrogates escaped, NaN spelled out."""
    return json.dumps(value, default=repr).encode("utf-8")


request_bodies = st.one_of(
    st.builds(
        lambda alias, params, queue, priority: _surrogate_safe_dumps(
            {"alias": alias, "parameters": params, "queue": queue, "priority": priority}
        ),
        names,
        # Unserialisable objects and deep nesting reach the API as raw bodies, below.
        parameters.filter(lambda p: not (isinstance(p, dict) and {"object", "deep"} & set(p))),
        st.one_of(st.none(), names),
        priorities,
    ),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"[]",
            b"null",
            b'{"alias": "Record", "parameters": NaN}',
            b'{"alias": "Record", "parameters": {"a": Infinity}}',
            b'{"alias": "Record", "parameters": {"a": "\\ud800"}}',
            b'{"alias": "Record", "priority": 1e400}',
            b'{"alias": "Record", "run_at": "9999-12-31T23:59:59-23:59"}',
            b'{"alias": "Record", "delay": 1e300}',
            b'{"alias": "Record", "extra": 1}',
            b'{"alias": "Record", "parameters": {"deep": ' + b"[" * 900 + b"]" * 900 + b"}}",
            b'{"alias": "Record", "parameters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            b'{"alias": "\xff\xfe"}',
        ]
    ),
)


@pytest.mark.django_db
@FUZZ
@given(body=request_bodies)
@example(body=b'{"alias": "Record", "parameters": {"value": 1}, "queue": "faults"}')
def test_http_enqueue_answers_201_or_a_json_4xx_and_never_writes_half(api_client, body):
    before = item_count()
    with transaction.atomic():
        response = api_client.post("/tasks/api/v1/jobs", data=body, content_type="application/json")
    assert response.status_code in (201, 400, 413), (response.status_code, response.content)
    payload = response.json()
    if response.status_code == 201:
        assert item_count() == before + 1
        stored = QueueItem.objects.get(pk=payload["id"])
        assert stored.status == QueueItem.Status.QUEUED
        sent = json.loads(body).get("parameters") or {}
        assert reads_back_intact(sent, stored.parameters), (sent, stored.parameters)
    else:
        assert payload["error"]["code"] and payload["error"]["message"]
        assert item_count() == before


@pytest.mark.django_db
@FUZZ
@given(queue=names, alias=names, status=names, limit=names, cursor=names)
def test_http_listing_filters_answer_200_or_400(api_client, queue, alias, status, limit, cursor):
    query = {"queue": queue, "alias": alias, "status": status, "limit": limit, "cursor": cursor}
    # Percent-encoded as a hostile client would send it, lone surrogates and all.
    url = "/tasks/api/v1/jobs?" + urlencode(query, errors="surrogatepass")
    with transaction.atomic():
        response = api_client.get(url)
    assert response.status_code in (200, 400), response.content
    assert isinstance(response.json(), dict)


cli_params = st.one_of(
    st.builds(
        _surrogate_safe_dumps,
        parameters.filter(lambda p: not (isinstance(p, dict) and {"object", "deep"} & set(p))),
    ),
    st.text(max_size=60),
    st.sampled_from(["", "{", "NaN", '{"a": NaN}', "[1]", '{"a": "\\ud800"}', "null"]),
).map(lambda value: value.decode("utf-8") if isinstance(value, bytes) else value)


@pytest.mark.django_db
@FUZZ
@given(alias=names, params=cli_params, queue=st.one_of(st.none(), names))
@example(alias="Record", params='{"value": 2}', queue="faults")
def test_cli_enqueue_prints_an_id_or_a_command_error(alias, params, queue):
    before = item_count()
    args = ["taskqueue", "enqueue", alias, "--params", params]
    if queue is not None:
        args += ["--queue", queue]
    out = io.StringIO()
    try:
        with transaction.atomic():
            call_command(*args, stdout=out)
    except CommandError as exc:
        assert str(exc)
        assert item_count() == before
        return
    assert item_count() == before + 1
    stored = QueueItem.objects.get(pk=int(out.getvalue()))
    assert reads_back_intact(as_sent(params), stored.parameters)


def _browser_text(text: str) -> str:
    """What a browser can send: form fields are UTF-8, which has no lone surrogates."""
    return text.encode("utf-8", "replace").decode("utf-8")


form_text = names.map(_browser_text)


@pytest.mark.django_db
@settings(FUZZ, max_examples=scaled(25))  # an admin page render per example
@given(
    params=cli_params.map(_browser_text),
    queue=st.one_of(st.just(""), form_text),
    priority=st.one_of(st.just(""), st.integers().map(str), form_text),
    delay=st.one_of(st.just(""), st.floats().map(repr), form_text),
)
@example(params='{"value": 3}', queue="faults", priority="2", delay="")
@example(params='{"\\ud800": null}', queue="", priority="", delay="")  # an escaped surrogate key
def test_admin_enqueue_form_redirects_to_a_new_item_or_shows_an_error(
    admin_client, params, queue, priority, delay
):
    """The admin door: a redirect to the one new item, or the form again with an error."""
    url = f"/admin/django_taskqueue/taskdefinition/{definition_pk('Record')}/enqueue/"
    before = item_count()
    data = {"parameters": params, "queue_name": queue, "priority": priority}
    data["delay_seconds"] = delay
    with transaction.atomic():
        response = admin_client.post(url, data)
    if response.status_code == 302:
        assert item_count() == before + 1
        stored = QueueItem.objects.order_by("-id").first()
        assert reads_back_intact(as_sent(params), stored.parameters)
    elif response.status_code == 400:  # Django's answer to a body over DATA_UPLOAD_MAX_MEMORY_SIZE
        assert len(params.encode()) > 2_500_000
        assert item_count() == before
    else:
        assert response.status_code == 200
        page = response.content.decode()
        assert "errornote" in page or "errorlist" in page
        assert item_count() == before


@pytest.mark.django_db
@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "queue",
                "status__exact",
                "definition__id__exact",
                "deleted",
                "o",
                "created_at__year",
                "created_at__month",
                "created_at__day",
                "p",
            ]
        ),
        form_text,
        max_size=4,
    )
)
def test_admin_item_list_answers_any_query_string(admin_client, query):
    enqueue_by_alias("Record", {"value": 1})
    url = "/admin/django_taskqueue/queueitem/?" + urlencode(query, errors="surrogatepass")
    with transaction.atomic():
        response = admin_client.get(url)
    assert response.status_code in (200, 302), response.status_code


def definition_pk(alias: str) -> int:
    from django_taskqueue.models import TaskDefinition

    return TaskDefinition.objects.for_alias(alias).pk


@pytest.mark.parametrize(
    ("argv_tail", "reason"),
    [
        # Not UTF-8: Python decodes argv with surrogateescape, leaving lone surrogates.
        ([b"Record", b"--params", b'{"v": "\xff\xfe"}'], b"not valid Unicode text"),
        ([b"Re\xffcord"], b"Invalid alias"),
        ([b"Record", b"--queue", b"faults; rm -rf /"], b"Invalid queue name"),
        ([b"Record", b"--params", b"{" * 5000], b"not valid JSON"),
    ],
    ids=["non-utf8-params", "non-utf8-alias", "shell-in-queue", "deep-garbage"],
)
@pytest.mark.django_db(transaction=True)
def test_cli_process_rejects_raw_bytes_cleanly(runner_env, argv_tail, reason):
    """Through a real process: exit status 1 or 2 with a one-line error, no traceback, no row."""
    command = [sys.executable, str(ROOT / "manage.py"), "taskqueue", "enqueue"]
    result = subprocess.run(
        [part.encode() for part in command] + argv_tail,
        env=runner_env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode in (1, 2), result
    assert b"Traceback" not in result.stderr
    assert reason in result.stderr, result.stderr
    assert item_count() == 0
