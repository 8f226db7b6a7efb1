"""The rule every door applies to a webhook URL before it is stored.

Only the form is checked here (scheme, host, length); where the host points is checked at
each delivery, when its addresses are resolved (``webhooks/addresses.py``), because a name
may point elsewhere by then.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..exceptions import InvalidValue
from ..validation import UNSTORABLE, shown

MAX_URL_LENGTH = 2000  # the column's length
SCHEMES = ("http", "https")


def check_webhook_url(value: Any, error: type[InvalidValue] = InvalidValue) -> str:
    """``value`` as a storable webhook URL ("" for none); ``error`` saying why not."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise error(f"webhook_url must be a URL (text), not {type(value).__name__}.")
    if len(value) > MAX_URL_LENGTH:
        raise error(f"webhook_url is {len(value)} characters long; the limit is {MAX_URL_LENGTH}.")
    if UNSTORABLE.search(value) or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise error(f"webhook_url {shown(value)} contains spaces or control characters.")
    try:
        parts = urlsplit(value)
        parts.port  # raises for a port that is not a number in range  # noqa: B018
    except ValueError as exc:
        raise error(f"webhook_url {shown(value)} is not a valid URL ({exc}).") from None
    if parts.scheme.lower() not in SCHEMES:
        raise error(f"webhook_url {shown(value)} must start with http:// or https://.")
    if not parts.hostname:
        raise error(f"webhook_url {shown(value)} names no host.")
    if parts.username is not None or parts.password is not None:
        raise error(f"webhook_url {shown(value)} must not carry a user name or password.")
    return value
