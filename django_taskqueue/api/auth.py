"""Who is calling: a bearer JWT or the Django session, and what their model permissions allow.

Tokens carry the user's primary key as ``sub``; everything else (active flag, permissions) is
read from the database on each request, so deactivating a user or removing a permission takes
effect at once. Rotating ``API_JWT_SECRET`` (or ``SECRET_KEY``) revokes every token. A token
minted with a tenant (``taskqueue_token USER --tenant acme``) acts only on that tenant's items,
workflows and schedules: the views read it with ``token_tenant``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware

from ..actions import REQUIRED_PERMISSION
from ..conf import app_settings
from ..tenants import check_tenant
from ..validation import shown
from . import tokens
from .errors import ApiError
from .serializers import request_body

VIEW_PERMISSION = "django_taskqueue.view_queueitem"
VIEW_SCHEDULES_PERMISSION = "django_taskqueue.view_schedule"
FIRE_SCHEDULES_PERMISSION = "django_taskqueue.fire_schedule"
VIEW_WORKFLOWS_PERMISSION = "django_taskqueue.view_workflow"
# Either permission lets a user enqueue: the model's own "add", or the definition-level one.
ENQUEUE_PERMISSIONS = ("django_taskqueue.add_queueitem", "django_taskqueue.enqueue_taskdefinition")
REALM = 'Bearer realm="django-taskqueue"'
# Where authenticate() leaves the tenant of the request's token, for token_tenant().
_TENANT_ATTRIBUTE = "taskqueue_tenant"

Requirement = Callable[[Any], bool]


def token_secret() -> bytes:
    secret = app_settings.API_JWT_SECRET or settings.SECRET_KEY
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def mint_token(user: Any, lifetime_seconds: int | None = None, tenant: str | None = None) -> str:
    """A bearer token for ``user``, valid for ``lifetime_seconds`` (default: the setting),
    bound to ``tenant`` if given."""
    lifetime = lifetime_seconds or app_settings.API_JWT_LIFETIME_SECONDS
    issued_at = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user.pk),
        "iat": issued_at,
        "exp": issued_at + int(lifetime),
    }
    if check_tenant(tenant) is not None:
        claims["tenant"] = tenant
    return tokens.encode(claims, token_secret())


def token_tenant(request: HttpRequest) -> str | None:
    """The tenant the request's token is bound to; None for an unbound token, a session or
    a public endpoint."""
    tenant = getattr(request, _TENANT_ATTRIBUTE, None)
    return tenant if isinstance(tenant, str) else None


def _unauthorized(message: str, *, invalid_token: bool) -> ApiError:
    challenge = REALM
    if invalid_token:
        description = message.replace("\\", "\\\\").replace('"', '\\"')
        challenge += f', error="invalid_token", error_description="{description}"'
    code = "invalid_token" if invalid_token else "not_authenticated"
    return ApiError(401, code, message, {"WWW-Authenticate": challenge})


def _user_from_token(token: str) -> tuple[Any, str | None]:
    """The token's user, and the tenant it is bound to."""
    try:
        claims = tokens.decode(token, token_secret())
    except tokens.InvalidToken as exc:
        raise _unauthorized(str(exc), invalid_token=True) from exc
    user_model = get_user_model()
    try:
        pk = user_model._meta.pk.to_python(claims["sub"])
        user = user_model._default_manager.get(pk=pk)
    except (ValidationError, ValueError, user_model.DoesNotExist) as exc:
        raise _unauthorized("The token's user does not exist.", invalid_token=True) from exc
    if not getattr(user, "is_active", True):
        raise _unauthorized("The token's user is inactive.", invalid_token=True)
    return user, claims.get("tenant")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, run on demand, answering with the reason instead of a page."""

    def _reject(self, request: HttpRequest, reason: str) -> Any:
        return reason


def _no_response(request: HttpRequest) -> HttpResponse:
    """The view the CSRF check would guard: never called, the check only reads the request."""
    raise AssertionError("not a view")


def _enforce_csrf(request: HttpRequest) -> None:
    check = _CsrfCheck(_no_response)
    check.process_request(request)
    reason = check.process_view(request, _no_response, (), {})
    if reason:
        raise ApiError(403, "csrf_failed", f"CSRF verification failed: {reason}")


def authenticate(request: HttpRequest) -> Any:
    """The calling user, or ``ApiError`` 401/403.

    A bearer token, when sent, is the only credential considered. Without one, a logged-in
    session is accepted; views are CSRF-exempt for the sake of token clients, so the CSRF
    check that the middleware skipped is made here for unsafe session requests.
    """
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized(
                "Send the token as 'Authorization: Bearer <token>'.", invalid_token=True
            )
        user, tenant = _user_from_token(token.strip())
        request.user = user
        setattr(request, _TENANT_ATTRIBUTE, tenant)
        return user
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not getattr(user, "is_active", True):
        raise _unauthorized("Authentication credentials were not provided.", invalid_token=False)
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        request_body(request)  # cache it before the CSRF check parses a form body
        _enforce_csrf(request)
    return user


def tenant_in_force(request: HttpRequest, asked: Any) -> Any:
    """The tenant a request acts in: its token's when the token is bound (naming another is
    refused, 403), else the one the request asked for (None: every tenant, or none), for the
    caller's rules to check."""
    bound = token_tenant(request)
    if bound is None:
        return asked
    if asked is not None and asked != bound:
        raise ApiError(
            403,
            "permission_denied",
            f"This token is bound to tenant {bound!r}; it cannot act for {shown(asked)}.",
        )
    return bound


def can_view(user: Any) -> bool:
    return user.has_perm(VIEW_PERMISSION)


def can_enqueue(user: Any) -> bool:
    return any(user.has_perm(permission) for permission in ENQUEUE_PERMISSIONS)


def can_manage_queues(user: Any) -> bool:
    """Seeing items, plus changing queues (the admin dashboard's pause and limits)."""
    return can_view(user) and user.has_perm("django_taskqueue.change_queuestate")


def can_view_schedules(user: Any) -> bool:
    return user.has_perm(VIEW_SCHEDULES_PERMISSION)


def can_fire_schedules(user: Any) -> bool:
    """Seeing schedules, plus firing them now (the CLI's ``schedule-fire``)."""
    return can_view_schedules(user) and user.has_perm(FIRE_SCHEDULES_PERMISSION)


def can_view_workflows(user: Any) -> bool:
    return user.has_perm(VIEW_WORKFLOWS_PERMISSION)


def can_cancel_workflows(user: Any) -> bool:
    """Seeing workflows, plus canceling items: canceling a workflow cancels its items."""
    return can_view_workflows(user) and user.has_perm(REQUIRED_PERMISSION["cancel"])


def can_apply(action: str) -> Requirement:
    """Seeing items, plus the permission ``actions.REQUIRED_PERMISSION`` names for ``action``."""

    def requirement(user: Any) -> bool:
        return can_view(user) and user.has_perm(REQUIRED_PERMISSION[action])

    return requirement
