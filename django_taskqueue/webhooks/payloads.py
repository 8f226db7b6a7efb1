"""The JSON body of a result webhook, built when the item finishes.

Built then, not at delivery, so the body tells the outcome that was reached even if the item
is requeued before the delivery goes out. An output too large to be worth POSTing is left
out, and ``output_omitted`` says so; the receiver can fetch it from the HTTP API.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..exceptions import InvalidParameters, InvalidValue

# The alias of the built-in handler that delivers webhooks (``webhooks/delivery.py``).
WEBHOOK_ALIAS = "taskqueue.webhook"
MAX_OUTPUT_BYTES = 256 * 1024


def refuse_internal_alias(alias: str, error: type[InvalidValue] = InvalidParameters) -> None:
    """Deliveries are made by the queue alone. Their items are signed and sent as they are,
    so through a door (enqueue, a schedule) anyone allowed to enqueue could have any body
    signed with the webhook secret, and forge webhooks."""
    if alias == WEBHOOK_ALIAS:
        raise error(
            f"{alias!r} is enqueued by the queue itself, when an item with a webhook URL "
            "finishes; it cannot be enqueued directly."
        )


def webhook_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The body for one finished item, from its row's values (``store/settling.py``)."""
    payload: dict[str, Any] = {
        "item_id": row["id"],
        "alias": row["definition__alias"],
        "queue": row["queue_name"],
        "status": row["status"],
        "attempts": row["attempts"],
        "workflow_id": row["workflow_id"],
        "created_at": _iso(row["created_at"]),
        "started_at": _iso(row["started_at"]),
        "completed_at": _iso(row["completed_at"]),
    }
    if row["status"] == "success":
        output = row["output"]
        if len(json.dumps(output)) > MAX_OUTPUT_BYTES:
            payload.update(output=None, output_omitted=True)
        else:
            payload["output"] = output
    else:
        payload["error"] = {
            "class": row["last_error_class"],
            "message": row["last_error_message"],
        }
    return payload


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
