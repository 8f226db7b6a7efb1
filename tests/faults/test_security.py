"""Scenario 8: what an attacker can reach, end to end, changes nothing it should not.

The API's and admin's own suites check each rule in detail; this one attacks across doors and
checks the database afterwards, and drives a real runner at a definition row that names
``os.system``.
"""

from __future__ import annotations

import base64
import json
import pickle
import time
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from django_taskqueue import InvalidName, enqueue_by_alias
from django_taskqueue.api.auth import mint_token, token_secret
from django_taskqueue.models import QueueItem, TaskDefinition
from tests.taskapp.models import Journal

API = "/tasks/api/v1"
ITEMS_URL = reverse("admin:django_taskqueue_queueitem_changelist")


def snapshot() -> list[tuple]:
    """Everything an operator action or enqueue could change."""
    return list(
        QueueItem.all_objects.order_by("pk").values_list(
            "pk", "status", "cancel_requested", "attempts", "run_at", "updated_at", "deleted_at"
        )
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(user: User) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    now = int(time.time())
    payload = b64(json.dumps({"sub": str(user.pk), "iat": now, "exp": now + 600}).encode())
    return f"{header}.{payload}."


def resigned_token(user: User) -> str:
    """A well-formed token for ``user`` signed with a secret that is not the server's."""
    import hashlib
    import hmac

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    payload = b64(json.dumps({"sub": str(user.pk), "iat": now, "exp": now + 600}).encode())
    wrong = token_secret() + b"-guessed"
    signature = hmac.new(wrong, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def user_with(username: str, *codenames: str, **fields: object) -> User:
    user = User.objects.create_user(username, password="pw", **fields)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_taskqueue", codename__in=codenames
        )
    )
    return user


def attack_api(client: Client, item: QueueItem, **headers: str) -> list[int]:
    """Try every writing endpoint once; return the status codes."""
    return [
        client.post(
            f"{API}/jobs", {"alias": "Record"}, content_type="application/json", headers=headers
        ).status_code,
        client.post(f"{API}/jobs/{item.pk}/cancel", headers=headers).status_code,
        client.post(f"{API}/jobs/{item.pk}/requeue", headers=headers).status_code,
    ]


@pytest.mark.parametrize("forge", ["wrong_signature", "alg_none", "expired", "inactive_user"])
@pytest.mark.django_db
def test_untrusted_tokens_are_401_and_change_nothing(forge):
    """Even a superuser's identity is useless in a token the server did not sign, or a token
    that expired, or one whose user has been deactivated since."""
    boss = User.objects.create_superuser("boss", "boss@example.com", "pw")
    token = {
        "wrong_signature": lambda: resigned_token(boss),
        "alg_none": lambda: unsigned_token(boss),
        "expired": lambda: mint_token(boss, lifetime_seconds=-3600),
        "inactive_user": lambda: mint_token(
            User.objects.create_superuser("gone", "g@example.com", "pw", is_active=False)
        ),
    }[forge]()
    item = enqueue_by_alias("Record")
    before = snapshot()

    codes = attack_api(Client(), item, Authorization=f"Bearer {token}")

    assert codes == [401, 401, 401]
    assert snapshot() == before


@pytest.mark.django_db
def test_staff_without_the_permission_gets_403_and_nothing_changes():
    """API: seeing items does not allow changing them. Admin: without view, 403; with view
    only, a forged action post is ignored."""
    viewer = user_with("viewer", "view_queueitem", is_staff=True)
    queued = enqueue_by_alias("Record")
    finished = enqueue_by_alias("Record")
    QueueItem.objects.filter(pk=finished.pk).update(status=QueueItem.Status.FAILED)
    before = snapshot()

    token = {"Authorization": f"Bearer {mint_token(viewer)}"}
    assert attack_api(Client(), queued, **token) == [403, 403, 403]
    assert Client().post(f"{API}/jobs/{finished.pk}/requeue", headers=token).status_code == 403

    nobody = Client()
    nobody.force_login(user_with("staff-nothing", is_staff=True))
    assert nobody.get(ITEMS_URL).status_code == 403
    assert (
        nobody.post(ITEMS_URL, {"action": "cancel", ACTION_CHECKBOX_NAME: [queued.pk]}).status_code
        == 403
    )
    admin_viewer = Client()
    admin_viewer.force_login(viewer)
    for action, item in [("cancel", queued), ("requeue", finished), ("soft_delete", queued)]:
        admin_viewer.post(ITEMS_URL, {"action": action, ACTION_CHECKBOX_NAME: [item.pk]})

    assert snapshot() == before


HOSTILE_NAMES = [
    "x'; DROP TABLE task_queue; --",
    "q$(touch /tmp/taskqueue-pwned)",
    "q`id`",
    "q|sh",
    "q\nLISTEN evil",
    "q\x00",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.django_db
def test_names_carrying_sql_or_shell_are_refused_at_every_door(name):
    """Queue names and aliases are checked against one conservative pattern wherever they
    enter, so they never reach SQL, a NOTIFY payload, a log line or a shell unchecked."""
    enqueue_by_alias("Record")
    with pytest.raises(InvalidName):
        enqueue_by_alias("Record", queue_name=name)
    with pytest.raises(InvalidName):
        enqueue_by_alias(name)
    with pytest.raises(CommandError, match="Invalid queue name"):
        call_command("runqueue", name, "--burst")
    superuser = User.objects.create_superuser("root", "r@example.com", "pw")
    client = Client(headers={"Authorization": f"Bearer {mint_token(superuser)}"})
    body = {"alias": "Record", "queue": name}
    assert client.post(f"{API}/jobs", body, content_type="application/json").status_code == 400
    assert client.get(f"{API}/jobs", {"queue": name}).status_code == 400
    assert client.get(f"{API}/jobs", {"alias": name}).status_code == 400
    assert QueueItem.objects.count() == 1  # and the table is still there to count


class Exploit:
    """Pickled, this runs a shell command when loaded: it must only ever travel as text."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.django_db(transaction=True)
def test_runner_runs_registered_code_only_and_parameters_stay_data(start_runner, tmp_path):
    """A definition row naming ``os.system`` (new alias, or an edit to a registered one) never
    makes the runner import it, and parameters holding pickles or Python source are handed to
    the registered handler as plain strings."""
    marker = tmp_path / "pwned"
    shell = f"touch {marker}"
    evil = TaskDefinition.objects.create(
        alias="Evil", handler="os.system", queue_name="faults", max_attempts=1
    )
    now = evil.created_at
    evil_item = QueueItem.objects.create(
        definition=evil,
        queue_name="faults",
        parameters={"command": shell},
        max_attempts=1,
        run_at=now,
        created_at=now,
        updated_at=now,
    )
    enqueue_by_alias("Record", queue_name="faults")  # creates the Record definition row
    TaskDefinition.objects.filter(alias="Record").update(handler="os.system")
    payloads = [
        shell,
        f"__import__('os').system({shell!r})",
        base64.b64encode(pickle.dumps(Exploit(marker))).decode(),
        pickle.dumps(Exploit(marker), protocol=0).decode("latin-1"),
    ]
    records = [enqueue_by_alias("Record", {"value": p}, queue_name="faults") for p in payloads]

    runner = start_runner("faults", "--burst", "--interval", "0.1")
    assert runner.wait(timeout=60) == 0, runner.output()

    assert not marker.exists()
    evil_item.refresh_from_db()
    assert evil_item.status == QueueItem.Status.FAILED
    assert "No handler is registered for alias 'Evil'" in evil_item.last_error
    for item, payload in zip(records, payloads, strict=True):
        item.refresh_from_db()
        assert item.status == QueueItem.Status.SUCCESS, item.last_error
        assert item.output["value"] == payload
    assert Journal.objects.filter(item_id__in=[r.pk for r in records]).count() == len(records)
