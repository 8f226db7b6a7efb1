"""The signature of a result webhook: proof of origin that also dates the request.

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``. Signing the time with
the body lets a receiver refuse a request captured and sent again later: the signature only
holds for the time it names, and that time must be recent. Each delivery attempt is signed
afresh, so a retry an hour later is still accepted.

``verify`` is for Python receivers that have this package installed; docs/webhooks.md shows
the same check written with the standard library alone, for those that do not.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.utils.crypto import salted_hmac

from ..conf import app_settings

SIGNATURE_HEADER = "X-Taskqueue-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
# Unix seconds have 10 digits until the year 2286; a longer "t" is not a time.
MAX_STAMP_DIGITS = 12
DERIVED_KEY_SALT = "django_taskqueue.webhooks"


def webhook_secret() -> bytes:
    """``TASKQUEUE["WEBHOOK_SECRET"]``, read live; unset, a key derived from ``SECRET_KEY``.

    Derived, never ``SECRET_KEY`` itself: the key is handed to every receiver, and
    ``SECRET_KEY`` must not leave the project. An HMAC cannot be undone, so knowing the
    derived key tells nothing of ``SECRET_KEY``.
    """
    secret = app_settings.WEBHOOK_SECRET
    if not secret:
        return (
            salted_hmac(DERIVED_KEY_SALT, "webhook-secret", algorithm="sha256").hexdigest().encode()
        )
    return secret if isinstance(secret, bytes) else str(secret).encode()


def _digest(body: bytes, secret: str | bytes, timestamp: int | str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | bytes, timestamp: int | None = None) -> str:
    """The value of ``X-Taskqueue-Signature`` for ``body`` sent at ``timestamp`` (now)."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={stamp},{SCHEME}={_digest(body, secret, stamp)}"


def verify(
    body: bytes,
    header: str,
    secret: str | bytes,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_seconds``
    of ``now``. Anything malformed is simply False: a receiver has nothing to learn from why.
    """
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    stamp, signature = fields.get("t", ""), fields.get(SCHEME, "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_STAMP_DIGITS):
        return False
    if not signature.isascii():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(_digest(body, secret, stamp), signature)
