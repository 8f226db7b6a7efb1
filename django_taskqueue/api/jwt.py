"""Compact JSON Web Tokens signed with HS256 (RFC 7519), and nothing else.

Written here rather than pulled in as a dependency because the app depends on Django only and
the subset we need is small. It is deliberately strict: the only algorithm is HS256 (so
``alg: none`` and algorithm-confusion tricks fail), signatures are checked in constant time
before the payload is even parsed, segments must be canonical base64url, and ``exp``, ``iat``
and ``sub`` are required.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from typing import Any

ALGORITHM = "HS256"
# Clock skew tolerated between the machine that minted a token and the one checking it.
LEEWAY_SECONDS = 10
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")


class InvalidToken(ValueError):
    """The token cannot be trusted; the message says why, and is safe to show the client."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str, what: str) -> bytes:
    if not _SEGMENT.match(segment):
        raise InvalidToken(f"The token's {what} is not base64url.")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken(f"The token's {what} is not base64url.") from exc
    # Only one spelling of each byte string is accepted, so a token cannot be altered
    # (e.g. in the unused low bits of the last character) and still verify.
    if _b64encode(data) != segment:
        raise InvalidToken(f"The token's {what} is not canonical base64url.")
    return data


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidToken(f"The token's {what} is not JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"The token's {what} is not a JSON object.")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _signature(signing_input: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def encode(claims: dict[str, Any], secret: bytes) -> str:
    """Sign ``claims`` as an HS256 JWT."""
    header = {"alg": ALGORITHM, "typ": "JWT"}
    signing_input = ".".join(
        _b64encode(json.dumps(part, separators=(",", ":"), allow_nan=False).encode("utf-8"))
        for part in (header, claims)
    )
    signature = _signature(signing_input.encode("ascii"), secret)
    return f"{signing_input}.{_b64encode(signature)}"


def _numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise InvalidToken(f"The token has no {name!r} claim.")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"The token's {name!r} claim is not a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidToken(f"The token's {name!r} claim is not a finite number.")
    return number


def decode(token: str, secret: bytes, *, now: float | None = None) -> dict[str, Any]:
    """Verify ``token`` and return its claims; raise ``InvalidToken`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("The token is not a compact JWT (three dot-separated parts).")
    header_segment, payload_segment, signature_segment = parts
    header_bytes = _b64decode(header_segment, "header")
    payload_bytes = _b64decode(payload_segment, "payload")
    signature = _b64decode(signature_segment, "signature")
    header = _json_object(header_bytes, "header")
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"The token's algorithm must be {ALGORITHM}.")
    if "crit" in header:
        raise InvalidToken("The token requires extensions this server does not understand.")
    expected = _signature(f"{header_segment}.{payload_segment}".encode("ascii"), secret)
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("The token's signature does not match.")

    claims = _json_object(payload_bytes, "payload")
    now = time.time() if now is None else now
    expires_at = _numeric_date(claims, "exp", required=True)
    issued_at = _numeric_date(claims, "iat", required=True)
    not_before = _numeric_date(claims, "nbf", required=False)
    if now >= expires_at + LEEWAY_SECONDS:
        raise InvalidToken("The token has expired.")
    if issued_at > now + LEEWAY_SECONDS:
        raise InvalidToken("The token was issued in the future.")
    if not_before is not None and now < not_before - LEEWAY_SECONDS:
        raise InvalidToken("The token is not valid yet.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("The token's 'sub' claim must be a non-empty string.")
    return claims
