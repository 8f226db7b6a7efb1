"""Bearer tokens: compact JWTs, signed and verified by PyJWT, held to the API's rules.

PyJWT does the cryptography and the claim checks; this module adds what the API promises on
top: one algorithm (``API_JWT_ALGORITHM``, HS256 unless configured, so ``alg: none`` and
algorithm confusion fail), ``exp``, ``iat`` and a non-empty string ``sub`` required, ten
seconds of clock skew, canonical base64url segments (one spelling per token) and no ``crit``
extensions, with messages safe to show the client. An optional ``tenant`` claim binds the
token to one tenant (``auth.token_tenant``); it must be a tenant name, or the token is refused
rather than read as unbound.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..conf import JWT_ALGORITHMS, app_settings
from ..exceptions import InvalidValue
from ..tenants import check_tenant

try:
    import jwt as pyjwt
except ImportError as exc:  # pragma: no cover - exercised by installs without the extra
    raise ImproperlyConfigured(
        "The HTTP API needs PyJWT and prometheus_client: pip install 'django-taskqueue[api]'."
    ) from exc

# Clock skew tolerated between the machine that minted a token and the one checking it.
LEEWAY_SECONDS = 10
_SEGMENT = re.compile(r"\A[A-Za-z0-9_-]*\Z")

_MESSAGES = {
    pyjwt.ExpiredSignatureError: "The token has expired.",
    pyjwt.InvalidSignatureError: "The token's signature does not match.",
    pyjwt.InvalidAlgorithmError: "The token's algorithm is not the one this server accepts.",
    pyjwt.ImmatureSignatureError: "The token is not valid yet (its 'nbf' or 'iat' is ahead).",
}


class InvalidToken(ValueError):
    """The token cannot be trusted; the message says why, and is safe to show the client."""


def algorithm() -> str:
    name = app_settings.API_JWT_ALGORITHM
    if name not in JWT_ALGORITHMS:
        raise ImproperlyConfigured(
            f"API_JWT_ALGORITHM is {name!r}; use one of {', '.join(JWT_ALGORITHMS)}."
        )
    return str(name)


def encode(claims: dict[str, Any], secret: bytes) -> str:
    return pyjwt.encode(claims, secret, algorithm=algorithm())


def decode(token: str, secret: bytes) -> dict[str, Any]:
    """Verify ``token`` and return its claims; raise ``InvalidToken`` otherwise."""
    _check_shape(token)
    try:
        claims = pyjwt.decode(
            token,
            secret,
            algorithms=[algorithm()],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub"], "verify_sub": True},
        )
    except pyjwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token has no {exc.claim!r} claim.") from None
    except pyjwt.PyJWTError as exc:
        message = next((m for kind, m in _MESSAGES.items() if isinstance(exc, kind)), None)
        raise InvalidToken(message or f"The token is not valid: {exc}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("The token's 'sub' claim must be a non-empty string.")
    for name in ("exp", "iat", "nbf"):
        if name in claims and not _finite(claims[name]):
            raise InvalidToken(f"The token's {name!r} claim is not a finite number.")
    if "tenant" in claims:
        try:
            check_tenant(claims["tenant"])
        except InvalidValue:
            raise InvalidToken("The token's 'tenant' claim is not a tenant name.") from None
        if claims["tenant"] is None:
            raise InvalidToken("The token's 'tenant' claim is null; leave it out instead.")
    return claims


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def _check_shape(token: str) -> None:
    """Three canonical base64url segments and a header without ``crit``: PyJWT accepts a
    few spellings of one token and would let an unknown critical extension through."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("The token is not a compact JWT (three dot-separated parts).")
    for segment, what in zip(parts, ("header", "payload", "signature"), strict=True):
        if not _SEGMENT.match(segment):
            raise InvalidToken(f"The token's {what} is not base64url.")
        try:
            data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (binascii.Error, ValueError):
            raise InvalidToken(f"The token's {what} is not base64url.") from None
        if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
            raise InvalidToken(f"The token's {what} is not canonical base64url.")
        if what == "header":
            try:
                header = json.loads(data)
            except (ValueError, RecursionError):
                raise InvalidToken("The token's header is not JSON.") from None
            if isinstance(header, dict) and "crit" in header:
                raise InvalidToken("The token requires extensions this server does not understand.")
