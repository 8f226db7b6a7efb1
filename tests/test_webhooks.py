"""Result webhooks without a network: signatures, the address rules, the URL rule at the doors.

Delivery over real HTTP is in ``test_webhook_delivery.py``.
"""

from __future__ import annotations

import ipaddress
import re
import time

import pytest

from django_taskqueue import (
    InvalidParameters,
    InvalidValue,
    enqueue_by_alias,
    enqueue_many,
    handler,
)
from django_taskqueue.registry import get_spec
from django_taskqueue.webhooks.addresses import (
    RefusedAddress,
    allowed_host,
    refusal,
    resolve_target,
)
from django_taskqueue.webhooks.delivery import DeliveryRejected, encode_body
from django_taskqueue.webhooks.payloads import WEBHOOK_ALIAS
from django_taskqueue.webhooks.signing import sign, verify, webhook_secret
from tests.test_docs import python_block_defining

SECRET = b"receiver-and-sender-share-this"
BODY = encode_body({"item_id": 7, "status": "success", "output": {"ü": [1, 2]}})


def documented_verify():
    """The standalone check receivers copy from docs/webhooks.md."""
    namespace: dict[str, object] = {}
    exec(python_block_defining("def verify_taskqueue_signature"), namespace)  # noqa: S102
    return namespace["verify_taskqueue_signature"]


# --------------------------------------------------------------------------- signing


def test_a_signature_names_its_time_and_verifies():
    header = sign(BODY, SECRET, timestamp=1_800_000_000)
    assert re.fullmatch(r"t=1800000000,v1=[0-9a-f]{64}", header)
    assert verify(BODY, header, SECRET, now=1_800_000_000)
    assert verify(BODY, sign(BODY, SECRET), SECRET)  # signed now, checked now


def test_the_body_is_compact_sorted_ascii_json():
    assert BODY == b'{"item_id":7,"output":{"\\u00fc":[1,2]},"status":"success"}'


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda body, header, secret: (body + b" ", header, secret), id="body"),
        pytest.param(lambda body, header, secret: (body, header, b"other"), id="secret"),
        pytest.param(
            lambda body, header, secret: (body, header.replace("t=17", "t=18"), secret),
            id="time",
        ),
    ],
)
def test_a_changed_body_secret_or_time_does_not_verify(change):
    header = sign(BODY, SECRET, timestamp=1_700_000_000)
    body, header, secret = change(BODY, header, SECRET)
    assert not verify(body, header, secret, tolerance_seconds=10**9, now=1_700_000_000)


def test_a_signature_replayed_after_the_tolerance_is_refused():
    header = sign(BODY, SECRET, timestamp=1_700_000_000)
    assert verify(BODY, header, SECRET, now=1_700_000_000 + 300)
    assert not verify(BODY, header, SECRET, now=1_700_000_000 + 301)  # replayed later
    assert not verify(BODY, header, SECRET, now=1_700_000_000 - 301)  # dated in the future
    assert verify(BODY, header, SECRET, tolerance_seconds=3600, now=1_700_000_000 + 3000)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=,v1=",
        "v1=abc",
        "t=1700000000",
        "t=abc,v1=00",
        "t=１７,v1=00",
        f"t={'9' * 5000},v1=00",
        "t=1700000000,v1=é",
    ],
)
def test_malformed_headers_are_refused_without_error(header):
    assert not verify(BODY, header, SECRET, tolerance_seconds=10**12, now=1_700_000_000)


def test_the_documented_snippet_agrees_with_verify():
    check = documented_verify()
    now = int(time.time())
    cases = [
        (BODY, sign(BODY, SECRET, now)),
        (BODY + b"x", sign(BODY, SECRET, now)),
        (BODY, sign(BODY, b"other", now)),
        (BODY, sign(BODY, SECRET, now - 3600)),
        (BODY, sign(BODY, SECRET, now).replace("v1=", "v1=0")),
        (BODY, "t=abc,v1=00"),
        (BODY, ""),
    ]
    answers = [check(body, header, SECRET) for body, header in cases]
    assert answers == [verify(body, header, SECRET) for body, header in cases]
    assert answers == [True, False, False, False, False, False, False]


def test_the_secret_is_webhook_secret_or_else_a_key_derived_from_secret_key(settings):
    settings.SECRET_KEY = "the-project-secret"
    settings.TASKQUEUE = {**settings.TASKQUEUE, "WEBHOOK_SECRET": None}
    derived = webhook_secret()
    assert b"the-project-secret" not in derived and len(derived) == 64  # hex SHA-256
    assert webhook_secret() == derived  # stable while SECRET_KEY is
    settings.SECRET_KEY = "another-project-secret"
    assert webhook_secret() != derived
    settings.TASKQUEUE = {**settings.TASKQUEUE, "WEBHOOK_SECRET": "for-webhooks"}
    assert webhook_secret() == b"for-webhooks"


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # where cloud metadata services answer
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("192.0.2.10", "a private address"),  # documentation
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "a private address"),
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("2002:a00:1::1", "a private address"),  # 6to4 of 10.0.0.1
    ],
)
def test_addresses_that_are_not_public_are_refused_with_the_reason(address, reason):
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address):
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/hook", "http://localhost/hook", "http://[::1]/", "http://0/"]
)
def test_a_url_whose_host_is_not_public_is_refused(url):
    with pytest.raises(RefusedAddress, match="WEBHOOK_ALLOWED_HOSTS"):
        resolve_target(url)


def test_an_allowed_host_resolves_to_the_address_connected_to(settings):
    settings.TASKQUEUE = {**settings.TASKQUEUE, "WEBHOOK_ALLOWED_HOSTS": ["LocalHost", "[::1]"]}
    assert allowed_host("localhost.") and allowed_host("::1") and not allowed_host("127.0.0.1")
    target = resolve_target("http://localhost:8000/hook?token=1")
    assert (target.scheme, target.host, target.port) == ("http", "localhost", 8000)
    assert target.path == "/hook?token=1"
    assert ipaddress.ip_address(target.address).is_loopback
    assert resolve_target("https://[::1]").address == "::1"
    with pytest.raises(RefusedAddress):  # another spelling of a loopback host is not listed
        resolve_target("http://127.0.0.1/")


def test_a_public_address_keeps_its_scheme_default_port_and_root_path():
    target = resolve_target("https://93.184.215.14")
    assert (target.port, target.path, target.address) == (443, "/", "93.184.215.14")


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http://user:pw@example.com/", "http:///path"]
)
def test_a_stored_url_that_breaks_the_rule_is_refused_at_delivery(url):
    with pytest.raises(RefusedAddress):
        resolve_target(url)


# --------------------------------------------------------------------------- the doors


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x", "must start with http:// or https://"),
        ("https://user:secret@example.com/", "must not carry a user name or password"),
        ("https://", "names no host"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com:99999/", "not a valid URL"),
        (42, "must be a URL"),
    ],
)
def test_enqueue_refuses_a_bad_webhook_url(url, message):
    with pytest.raises(InvalidParameters, match=re.escape(message)):
        enqueue_by_alias("Record", webhook_url=url)


def test_handler_refuses_a_bad_webhook_url():
    with pytest.raises(InvalidValue, match="http:// or https://"):
        handler("NeverRegistered", webhook_url="file:///etc/passwd")


def test_the_delivery_handler_is_registered_with_the_webhook_settings():
    spec = get_spec(WEBHOOK_ALIAS)
    assert (spec.queue, spec.max_attempts) == ("webhooks", 8)
    assert not spec.retry_policy.retries(DeliveryRejected)
    assert spec.retry_policy.retries(TimeoutError)


@pytest.mark.django_db
def test_deliveries_cannot_be_enqueued_through_a_door():
    """Else anyone allowed to enqueue could have a body of their choice signed."""
    parameters = {"item_id": 1, "url": "https://example.com/", "payload": {"status": "success"}}
    with pytest.raises(InvalidParameters, match="enqueued by the queue itself"):
        enqueue_by_alias(WEBHOOK_ALIAS, parameters)
    with pytest.raises(InvalidParameters, match="enqueued by the queue itself"):
        enqueue_many(WEBHOOK_ALIAS, [parameters])


def test_a_schedule_cannot_fire_the_delivery_alias_either():
    from django_taskqueue.schedules.checks import InvalidSchedule, check_schedule

    with pytest.raises(
        InvalidSchedule, match="alias: 'taskqueue.webhook' is enqueued by the queue"
    ):
        check_schedule({"name": "forge", "alias": "taskqueue.webhook", "interval_seconds": 60})
