"""Bearer tokens (the HS256 JWT code and its use), session auth with CSRF, permissions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from django_taskqueue.api import tokens as jwt
from django_taskqueue.api.auth import mint_token, token_secret
from django_taskqueue.models import QueueItem

from .api_helpers import API, bearer, live_runner, user_with

pytestmark = pytest.mark.django_db

SECRET = b"test-secret-of-at-least-thirty-two-bytes"
NOW = int(time.time())  # PyJWT checks times against the clock


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict, claims: dict, secret: bytes = SECRET) -> str:
    """A token signed with HMAC-SHA256 whatever the header claims: for the attacks below."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


ALG_NONE = b64(b'{"alg":"none"}')


def claims(**overrides: object) -> dict:
    return {"sub": "1", "iat": NOW, "exp": NOW + 60, **overrides}


# --------------------------------------------------------------------------- the token rules


def test_token_round_trips():
    token = jwt.encode(claims(), SECRET)
    assert jwt.decode(token, SECRET) == claims()


def test_token_from_another_implementation_is_accepted():
    assert jwt.decode(forge({"alg": "HS256", "typ": "JWT"}, claims()), SECRET)["sub"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(forge({"alg": "HS256"}, claims(), b"other-secret"), id="wrong-secret"),
        pytest.param(f"{ALG_NONE}.{b64(json.dumps(claims()).encode())}.", id="alg-none"),
        pytest.param(forge({"alg": "none"}, claims()), id="alg-none-with-signature"),
        pytest.param(forge({"alg": "HS512"}, claims()), id="alg-hs512"),
        pytest.param(forge({"typ": "JWT"}, claims()), id="alg-missing"),
        pytest.param(forge({"alg": "HS256", "crit": ["exp"]}, claims()), id="crit"),
        pytest.param(forge({"alg": "HS256"}, claims(exp=NOW - 11)), id="expired"),
        pytest.param(forge({"alg": "HS256"}, claims(iat=NOW + 3600)), id="issued-in-future"),
        pytest.param(forge({"alg": "HS256"}, claims(nbf=NOW + 3600)), id="not-yet-valid"),
        pytest.param(forge({"alg": "HS256"}, {"iat": NOW, "exp": NOW + 9}), id="no-sub"),
        pytest.param(forge({"alg": "HS256"}, {"sub": "1", "iat": NOW}), id="no-exp"),
        pytest.param(forge({"alg": "HS256"}, {"sub": "1", "exp": NOW + 9}), id="no-iat"),
        pytest.param(forge({"alg": "HS256"}, claims(sub=1)), id="sub-not-string"),
        pytest.param(forge({"alg": "HS256"}, claims(sub="")), id="sub-empty"),
        pytest.param(forge({"alg": "HS256"}, claims(exp="never")), id="exp-string"),
        pytest.param(forge({"alg": "HS256"}, claims(exp=True)), id="exp-bool"),
        pytest.param(forge({"alg": "HS256"}, claims(exp=10**400)), id="exp-huge"),
        pytest.param(forge({"alg": "HS256"}, ["not", "an", "object"]), id="payload-array"),
        pytest.param(forge(["alg", "HS256"], claims()), id="header-array"),
        pytest.param("", id="empty"),
        pytest.param("a.b", id="two-parts"),
        pytest.param("a.b.c.d", id="four-parts"),
        pytest.param("é.x.y", id="non-ascii"),
        pytest.param("!!!.???.***", id="not-base64"),
        pytest.param("e30.e30.", id="empty-objects-no-signature"),
    ],
)
def test_untrustworthy_tokens_are_refused(token):
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(token, SECRET)


def test_exp_1e400_is_refused():
    header, _, _ = jwt.encode(claims(), SECRET).split(".")
    payload = b64(f'{{"sub":"1","iat":{NOW},"exp":1e400}}'.encode())
    signature = hmac.new(SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(jwt.InvalidToken, match="exp"):
        jwt.decode(f"{header}.{payload}.{b64(signature)}", SECRET)


def test_tampered_payload_fails_the_signature():
    header, _, signature = jwt.encode(claims(), SECRET).split(".")
    payload = b64(json.dumps(claims(sub="2")).encode())
    with pytest.raises(jwt.InvalidToken, match="signature"):
        jwt.decode(f"{header}.{payload}.{signature}", SECRET)


def test_non_canonical_base64_is_refused():
    token = jwt.encode(claims(), SECRET)
    with pytest.raises(jwt.InvalidToken):
        jwt.decode(token + "=", SECRET)
    # The signature's last character carries unused low bits: flipping them keeps the bytes.
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    assert base64.urlsafe_b64decode(token.split(".")[2] + "=") == base64.urlsafe_b64decode(
        token.split(".")[2][:-1] + twin + "="
    )
    with pytest.raises(jwt.InvalidToken, match="canonical"):
        jwt.decode(token[:-1] + twin, SECRET)


def test_leeway_accepts_small_clock_skew_only():
    now = int(time.time())
    skewed = jwt.encode(claims(exp=now - 5, iat=now - 100, nbf=now + 5), SECRET)
    assert jwt.decode(skewed, SECRET)["sub"] == "1"
    expired = jwt.encode(claims(exp=now - jwt.LEEWAY_SECONDS - 2, iat=now - 100), SECRET)
    with pytest.raises(jwt.InvalidToken, match="expired"):
        jwt.decode(expired, SECRET)


@override_settings(TASKQUEUE={"API_JWT_ALGORITHM": "HS512"})
def test_another_hmac_algorithm_can_be_configured_and_then_is_the_only_one():
    token = jwt.encode(claims(), SECRET)
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "HS512"
    assert jwt.decode(token, SECRET)["sub"] == "1"
    with pytest.raises(jwt.InvalidToken, match="algorithm"):
        jwt.decode(forge({"alg": "HS256"}, claims()), SECRET)


# --------------------------------------------------------------------------- over HTTP


def get_jobs(client: Client, **headers: str):
    return client.get(f"{API}/jobs", headers=headers)


def assert_401(response, *, invalid_token: bool = True) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert ('error="invalid_token"' in response.headers["WWW-Authenticate"]) is invalid_token
    assert response.json()["error"]["code"] in {"invalid_token", "not_authenticated"}


def test_no_credentials_is_401_with_a_bearer_challenge(client):
    assert_401(get_jobs(client), invalid_token=False)


def test_a_valid_token_with_view_permission_lists_jobs(client):
    response = get_jobs(client, **bearer(user_with("view_queueitem")))
    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def raw_token(sub: str, secret: bytes | None = None, **overrides: object) -> str:
    now = int(time.time())
    return jwt.encode(
        {"sub": sub, "iat": now, "exp": now + 60, **overrides}, secret or token_secret()
    )


def unsigned(sub: str) -> str:
    """What an attacker would send: valid claims, ``alg: none`` and no signature."""
    now = int(time.time())
    return f"{ALG_NONE}.{b64(json.dumps({'sub': sub, 'iat': now, 'exp': now + 60}).encode())}."


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda pk: f"Bearer {raw_token(pk, b'wrong')}", id="wrong-signature"),
        pytest.param(lambda pk: f"Bearer {unsigned(pk)}", id="alg-none"),
        pytest.param(lambda pk: f"Bearer {raw_token(pk, exp=int(time.time()) - 60)}", id="expired"),
        pytest.param(lambda pk: "Bearer not-a-token", id="malformed"),
        pytest.param(lambda pk: "Bearer ", id="empty"),
        pytest.param(lambda pk: f"Basic {raw_token(pk)}", id="wrong-scheme"),
        pytest.param(lambda pk: raw_token(pk), id="no-scheme"),
        pytest.param(lambda pk: f"Bearer {raw_token('999999')}", id="unknown-user"),
        pytest.param(lambda pk: f"Bearer {raw_token('abc')}", id="sub-not-a-pk"),
        pytest.param(lambda pk: f"Bearer {raw_token('9' * 30)}", id="sub-huge"),
        pytest.param(lambda pk: f"Bearer {raw_token(pk)}\u00e9", id="latin-1-junk"),
    ],
)
def test_bad_bearer_credentials_are_401(client, make_header):
    user = user_with("view_queueitem", "add_queueitem")
    header = make_header(str(user.pk))
    assert_401(client.get(f"{API}/jobs", headers={"Authorization": header}))
    response = client.post(
        f"{API}/jobs",
        {"alias": "Noop"},
        content_type="application/json",
        headers={"Authorization": header},
    )
    assert_401(response)
    assert not QueueItem.objects.exists()


def test_token_of_an_inactive_user_is_401(client):
    user = user_with("view_queueitem")
    headers = bearer(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = get_jobs(client, **headers)
    assert_401(response)
    assert "inactive" in response.json()["error"]["message"]


def test_token_of_a_deleted_user_is_401(client):
    user = user_with("view_queueitem")
    headers = bearer(user)
    user.delete()
    assert_401(get_jobs(client, **headers))


def test_api_jwt_secret_setting_replaces_secret_key(client):
    user = user_with("view_queueitem")
    minted_with_secret_key = bearer(user)
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, "API_JWT_SECRET": "api-only"}):
        assert_401(get_jobs(client, **minted_with_secret_key))
        assert get_jobs(client, **bearer(user)).status_code == 200
    assert get_jobs(client, **minted_with_secret_key).status_code == 200


def test_a_bad_token_is_401_even_with_a_valid_session(client):
    user = user_with("view_queueitem")
    client.force_login(user)
    assert get_jobs(client).status_code == 200
    assert_401(get_jobs(client, Authorization="Bearer junk"))


# --------------------------------------------------------------------------- permissions


def post_job(client: Client, headers: dict[str, str]):
    return client.post(
        f"{API}/jobs", {"alias": "Noop"}, content_type="application/json", headers=headers
    )


def test_missing_permission_is_403_and_writes_nothing(client):
    headers = bearer(user_with())
    response = get_jobs(client, **headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert post_job(client, bearer(user_with("view_queueitem", username="viewer"))).status_code == (
        403
    )
    assert not QueueItem.objects.exists()


@pytest.mark.parametrize("codename", ["add_queueitem", "enqueue_taskdefinition"])
def test_either_add_or_enqueue_permission_may_enqueue(client, codename):
    assert post_job(client, bearer(user_with(codename))).status_code == 201


@pytest.mark.parametrize(
    ("action", "codename", "status_before"),
    [("cancel", "cancel_queueitem", "queued"), ("requeue", "requeue_queueitem", "failed")],
)
def test_actions_need_their_permission_and_view(client, action, codename, status_before):
    item = QueueItem.objects.get(
        pk=post_job(client, bearer(user_with("add_queueitem"))).json()["id"]
    )
    QueueItem.objects.filter(pk=item.pk).update(status=status_before)
    url = f"{API}/jobs/{item.pk}/{action}"
    for username, codenames in [("only-view", ["view_queueitem"]), ("only-action", [codename])]:
        response = client.post(url, headers=bearer(user_with(*codenames, username=username)))
        assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == status_before
    allowed = bearer(user_with("view_queueitem", codename, username="allowed"))
    assert client.post(url, headers=allowed).status_code == 200


def test_superuser_may_do_everything(client):
    admin = User.objects.create_superuser("root", password="pw")
    assert post_job(client, bearer(admin)).status_code == 201
    assert get_jobs(client, **bearer(admin)).status_code == 200


# --------------------------------------------------------------------------- sessions, CSRF


def test_session_get_needs_no_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("view_queueitem"))
    assert get_jobs(client).status_code == 200


def test_session_post_without_csrf_token_is_403_and_writes_nothing():
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("add_queueitem"))
    response = post_job(client, {})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert not QueueItem.objects.exists()


def test_session_post_with_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_with("add_queueitem"))
    csrf = "a" * 32
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    assert post_job(client, {"X-CSRFToken": csrf}).status_code == 201


def test_bearer_post_needs_no_csrf_token():
    client = Client(enforce_csrf_checks=True)
    assert post_job(client, bearer(user_with("add_queueitem"))).status_code == 201


def test_session_of_an_inactive_user_is_401(client):
    user = user_with("view_queueitem")
    client.force_login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_401(get_jobs(client), invalid_token=False)


# --------------------------------------------------------------------------- /health, /metrics


@pytest.mark.parametrize("path", ["/tasks/health", "/tasks/metrics"])
def test_monitoring_needs_view_permission_by_default(client, path):
    live_runner()
    assert_401(client.get(path), invalid_token=False)
    assert client.get(path, headers=bearer(user_with())).status_code == 403
    assert client.get(
        path, headers=bearer(user_with("view_queueitem", username="v"))
    ).status_code == (200)


@pytest.mark.parametrize(
    ("path", "setting"),
    [("/tasks/health", "API_HEALTH_PUBLIC"), ("/tasks/metrics", "API_METRICS_PUBLIC")],
)
def test_monitoring_can_be_made_public_one_endpoint_at_a_time(client, path, setting):
    live_runner()
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, setting: True}):
        assert client.get(path).status_code == 200
        other = "/tasks/metrics" if path == "/tasks/health" else "/tasks/health"
        assert client.get(other).status_code == 401
        assert get_jobs(client).status_code == 401


# --------------------------------------------------------------------------- taskqueue_token


def test_token_command_prints_a_token_for_the_user(capsys):
    user = user_with("view_queueitem")
    call_command("taskqueue_token", user.username, "--lifetime", "120")
    token = capsys.readouterr().out.strip()
    decoded = jwt.decode(token, token_secret())
    assert decoded["sub"] == str(user.pk)
    assert decoded["exp"] - decoded["iat"] == 120
    assert Client().get(
        f"{API}/jobs", headers={"Authorization": f"Bearer {token}"}
    ).status_code == (200)


def test_token_command_default_lifetime_is_the_setting(capsys):
    user = user_with()
    with override_settings(TASKQUEUE={**settings.TASKQUEUE, "API_JWT_LIFETIME_SECONDS": 77}):
        call_command("taskqueue_token", user.username)
    decoded = jwt.decode(capsys.readouterr().out.strip(), token_secret())
    assert decoded["exp"] - decoded["iat"] == 77


def test_token_command_refuses_unknown_and_inactive_users():
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("taskqueue_token", "ghost")
    user_with(username="sleepy", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        call_command("taskqueue_token", "sleepy")
    user_with(username="awake")
    with pytest.raises(CommandError, match="lifetime"):
        call_command("taskqueue_token", "awake", "--lifetime", "0")


def test_mint_token_uses_the_user_primary_key_as_subject():
    user = user_with()
    assert jwt.decode(mint_token(user, 5), token_secret())["sub"] == str(user.pk)
