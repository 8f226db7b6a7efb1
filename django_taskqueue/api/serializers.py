"""Translating between HTTP JSON and the queue's Python API, rejecting bad input with 400s."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from ..exceptions import InvalidValue
from ..jsonvalues import refuse_json_constant
from ..models import QueueItem, QueueState, Schedule
from ..tenants import check_tenant
from ..validation import check_delay, check_run_at, one_queue_name, shown, validate_name
from .errors import ApiError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
ENQUEUE_FIELDS = {
    "alias",
    "type",
    "parameters",
    "queue",
    "queue_name",
    "priority",
    "run_at",
    "delay",
    "unique_key",
    "on_duplicate",
    "concurrency_key",
    "depends_on",
    "on_parent_failure",
    "webhook_url",
    "tenant",
}
QUEUE_LIMIT_FIELDS = {"concurrency_limit", "rate_limit"}
UPCOMING_FIRE_TIMES = 5


def item_to_dict(
    item: QueueItem,
    waiting_reason: str | None = None,
    parents: Sequence[int] = (),
    children: Sequence[int] = (),
) -> dict[str, Any]:
    """The public representation of an item; datetimes become ISO-8601 in the JSON encoder.
    ``waiting_reason`` is why a waiting or queued item waits (``QueueStore.waiting_reasons``);
    ``schedule`` names the schedule that fired it (select it with the item to save a query);
    ``parents`` and ``children`` are ids, as ``lineage`` reads them for a page of items."""
    return {
        "id": item.pk,
        "alias": item.definition.alias,
        "queue": item.queue_name,
        "status": item.status,
        "parameters": item.parameters,
        "output": item.output,
        "attempts": item.attempts,
        "max_attempts": item.max_attempts,
        "priority": item.priority,
        "run_at": item.run_at,
        "created_at": item.created_at,
        "started_at": item.started_at,
        "completed_at": item.completed_at,
        "cancel_requested": item.cancel_requested,
        "last_error": item.last_error,
        "last_error_class": item.last_error_class,
        "last_error_message": item.last_error_message,
        "details": item.details,
        "unique_key": item.unique_key or None,
        "concurrency_key": item.concurrency_key,
        "schedule": item.schedule.name if item.schedule is not None else None,
        "scheduled_for": item.scheduled_for,
        "waiting_reason": waiting_reason,
        "workflow_id": item.workflow_id,
        "parents": list(parents),
        "children": list(children),
        "on_parent_failure": item.on_parent_failure,
        "tenant": item.tenant,
    }


def queue_to_dict(state: QueueState) -> dict[str, Any]:
    return {
        "name": state.name,
        "paused": state.is_paused,
        "concurrency_limit": state.concurrency_limit,
        "rate_limit": state.rate_limit or None,
    }


def schedule_to_dict(schedule: Schedule, item_count: int) -> dict[str, Any]:
    """A schedule with its next fire times; blank fields that mean "the definition's" or
    "not this kind of timing" are null. A row whose timing cannot be worked out is still
    shown, with no fire times (``last_error`` says why once a runner has tried)."""
    try:
        description = schedule.description
    except Exception as exc:  # noqa: BLE001 - one broken row must not fail the list
        description = f"(cannot be read: {exc})"
    try:
        upcoming = schedule.upcoming(UPCOMING_FIRE_TIMES)
    except Exception:  # noqa: BLE001 - as above
        upcoming = []
    return {
        "name": schedule.name,
        "alias": schedule.alias,
        "parameters": schedule.parameters,
        "queue_name": schedule.queue_name or None,
        "priority": schedule.priority,
        "cron": schedule.cron or None,
        "interval_seconds": schedule.interval_seconds,
        "timezone": schedule.zone_name,
        "description": description,
        "enabled": schedule.enabled,
        "misfire": schedule.misfire,
        "max_catch_up": schedule.max_catch_up,
        "start_at": schedule.start_at,
        "end_at": schedule.end_at,
        "next_fire_at": schedule.next_fire_at,
        "next_fire_times": upcoming,
        "last_fired_at": schedule.last_fired_at,
        "last_error": schedule.last_error,
        "item_count": item_count,
        "tenant": schedule.tenant,
    }


def queue_limits_arguments(body: dict[str, Any], state: QueueState) -> dict[str, Any]:
    """The keyword arguments of ``set_queue_limits`` from a PATCH body: the fields given
    change (null lifts a limit), the others stay as they are."""
    unknown = sorted(set(body) - QUEUE_LIMIT_FIELDS)
    if unknown:
        raise _invalid(
            f"Unknown field(s): {', '.join(unknown)}; give concurrency_limit, rate_limit."
        )
    return {
        "concurrency_limit": body.get("concurrency_limit", state.concurrency_limit),
        "rate_limit": body.get("rate_limit", state.rate_limit),
    }


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def request_body(request: HttpRequest) -> bytes:
    """The raw body, read once and cached on the request.

    Read before anything parses ``request.POST`` (the CSRF check of a session request does):
    after a multipart body has been parsed as a form, ``request.body`` is no longer readable.
    """
    try:
        return request.body
    except RequestDataTooBig as exc:
        raise ApiError(413, "request_too_large", str(exc)) from exc


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object. Strict: UTF-8, no NaN/Infinity, an object at the top."""
    raw = request_body(request)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=refuse_json_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", "The request body is not UTF-8 text.") from exc
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        message = f"The request body is not valid JSON: {reason}"
        raise ApiError(400, "invalid_json", message) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    return body


# ISO-8601 as clients send it: a date, a time to the minute or finer, and a UTC offset. Parsed
# by the standard library once the shape is known good, so no trailing text slips through.
_ISO_DATETIME = re.compile(
    r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?\Z"
)


def parse_run_at(value: Any) -> datetime:
    """An ISO-8601 ``run_at`` from a JSON body, with its UTC offset, within the rules."""
    if not isinstance(value, str):
        raise _invalid("'run_at' must be an ISO-8601 date-time string.")
    parsed = None
    if _ISO_DATETIME.match(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None:
        raise _invalid(f"'run_at' is not an ISO-8601 date-time: {shown(value)}.")
    if timezone.is_naive(parsed):
        raise _invalid("'run_at' needs a UTC offset, e.g. 2030-01-01T09:00:00Z.")
    return _checked(check_run_at, parsed)


def _checked(check: Callable[[Any], Any], value: Any) -> Any:
    """The rule from ``validation``, with its message, answered as ``invalid_request``."""
    try:
        return check(value)
    except InvalidValue as exc:
        raise _invalid(str(exc)) from None


def enqueue_arguments(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(alias, keyword arguments of enqueue_by_alias)`` from a POST /jobs body.

    Shapes are checked here; the values themselves (alias, parameters, queue, priority) are
    validated by ``enqueue_by_alias``, the single place that knows the rules.
    """
    unknown = sorted(set(body) - ENQUEUE_FIELDS)
    if unknown:
        raise _invalid(f"Unknown field(s): {', '.join(unknown)}.")
    if ("alias" in body) == ("type" in body):
        raise _invalid("Give the task as exactly one of 'alias' or 'type'.")
    alias = body["alias"] if "alias" in body else body["type"]
    kwargs: dict[str, Any] = {
        "parameters": body.get("parameters"),
        "queue_name": _checked(
            lambda names: one_queue_name(*names), (body.get("queue"), body.get("queue_name"))
        ),
        "priority": body.get("priority"),
    }
    if body.get("unique_key") is not None:
        kwargs["unique_key"] = body["unique_key"]
        kwargs["on_duplicate"] = body.get("on_duplicate", "return")
    for name in ("concurrency_key", "depends_on", "on_parent_failure", "webhook_url", "tenant"):
        if body.get(name) is not None:
            kwargs[name] = body[name]
    if body.get("run_at") is not None:
        kwargs["run_at"] = parse_run_at(body["run_at"])
    if body.get("delay") is not None:
        kwargs["delay"] = _checked(check_delay, body["delay"])
    return alias, kwargs


@dataclass(frozen=True)
class ListQuery:
    status: str | None
    queue: str | None
    alias: str | None
    workflow: int | None
    limit: int
    before_id: int | None
    tenant: str | None = None

    def items(self) -> list[QueueItem]:
        """One page, newest first, plus one extra row that tells whether a next page exists."""
        items = QueueItem.objects.select_related("definition", "schedule").matching(
            status=self.status, queue_name=self.queue, alias=self.alias
        )
        if self.workflow is not None:
            items = items.filter(workflow_id=self.workflow)
        if self.tenant is not None:
            items = items.filter(tenant=self.tenant)
        if self.before_id is not None:
            items = items.filter(id__lt=self.before_id)
        return list(items[: self.limit + 1])


def _positive_int(text: str, name: str) -> int:
    # Bounded length: int() on a huge digit string is slow, and no id needs 20 digits. A
    # cursor past the last possible id is fine: it means "from the newest".
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) < 1:
        raise _invalid(f"'{name}' must be a positive integer, not {shown(text)}.")
    return int(text)


def status_filter(params: QueryDict, choices: Sequence[str]) -> str | None:
    """The ``status`` of a list's query string, one of ``choices`` (None: any)."""
    status = params.get("status") or None
    if status is not None and status not in choices:
        raise _invalid(f"Unknown status {status!r}; choose from {', '.join(choices)}.")
    return status


def tenant_filter(tenant: Any) -> str | None:
    """The tenant a list is narrowed to (None: not narrowed), a 400 if it is no tenant name."""
    return _checked(check_tenant, tenant)


def page_bounds(params: QueryDict) -> tuple[int, int | None]:
    """``(limit, before_id)`` of a list's query string: the page size, and the ``cursor``
    (the last id of the page before) if one is given."""
    limit = DEFAULT_PAGE_SIZE
    if params.get("limit"):
        limit = _positive_int(str(params.get("limit")), "limit")
        if limit > MAX_PAGE_SIZE:
            raise _invalid(f"'limit' is at most {MAX_PAGE_SIZE}.")
    cursor = params.get("cursor")
    return limit, _positive_int(cursor, "cursor") if cursor else None


def list_query(params: QueryDict, tenant: Any = None) -> ListQuery:
    """The filters of ``GET /jobs``; ``tenant`` is the one in force (``auth.tenant_in_force``)."""
    queue = params.get("queue") or None
    alias = params.get("alias") or None
    workflow = params.get("workflow")
    limit, before_id = page_bounds(params)
    return ListQuery(
        status=status_filter(params, QueueItem.Status.values),
        queue=None if queue is None else validate_name(queue, "queue name"),
        alias=None if alias is None else validate_name(alias, "alias"),
        workflow=_positive_int(workflow, "workflow") if workflow else None,
        limit=limit,
        before_id=before_id,
        tenant=tenant_filter(tenant),
    )
