"""Users with chosen permissions, their bearer tokens, and a live runner, for the HTTP API
tests."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User

from django_taskqueue.api.auth import mint_token
from django_taskqueue.models import Runner

API = "/tasks/api/v1"


def user_with(*codenames: str, username: str = "api-user", **fields: object) -> User:
    """A user holding the named ``django_taskqueue`` permissions, e.g. "view_queueitem"."""
    user = User.objects.create_user(username, password="pw", **fields)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_taskqueue", codename__in=codenames
        )
    )
    assert user.user_permissions.count() == len(codenames), "unknown permission codename"
    return user


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user)}"}


def live_runner(name: str = "r1") -> Runner:
    """A runner serving "tests" that has just heartbeaten: /health answers 200 "ok"."""
    return Runner.objects.create(id=name, hostname="host", pid=1, queues=["tests"], concurrency=1)
