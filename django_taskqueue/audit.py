"""Who did what to which items: operator actions recorded as the admin's ``LogEntry`` rows.

Whether an action came from the admin, the HTTP API or the command line, each changed item
gets one entry, so the item's History page in the admin lists it. Entries are written in one
bulk statement however many items changed.
"""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError

logger = logging.getLogger("django_taskqueue.audit")

COMMAND_LINE_USERNAME = "taskqueue-cli"


@dataclass(frozen=True)
class Actor:
    """The user behind an action, and the door it came through ("admin", "api", "cli")."""

    user: Any
    door: str
    note: str = ""  # e.g. the OS user and host of a command line


def command_line_actor() -> Actor | None:
    """The command line has no Django user: its actions are recorded under an inactive user
    named ``taskqueue-cli``, with the OS user and host in each entry."""
    user_model = get_user_model()
    try:
        user, _ = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: COMMAND_LINE_USERNAME}, defaults={"is_active": False}
        )
    except (DatabaseError, TypeError, ValueError) as exc:  # a custom user model may refuse
        logger.warning("Actions from the command line are not audited: %s", exc)
        return None
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        who = socket.gethostname()
    return Actor(user=user, door="cli", note=f"by {who}")


def record(actor: Actor | None, model: type, changes: Iterable[tuple[Any, str]], what: str) -> None:
    """One ``LogEntry`` per ``(object id, object repr)`` in ``changes``, saying ``what``."""
    if actor is None or actor.user is None or not getattr(actor.user, "pk", None):
        return
    content_type = ContentType.objects.get_for_model(model)
    message = f"{what} (via {actor.door}{', ' + actor.note if actor.note else ''})"
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                user_id=actor.user.pk,
                content_type_id=content_type.pk,
                object_id=str(object_id),
                object_repr=repr_text[:200],
                action_flag=CHANGE,
                change_message=message,
            )
            for object_id, repr_text in changes
        ]
    )
