"""The HTTP API's schedules: list them, read one, fire one now.

Firing is ``schedules.firing.fire_now``, the same as the CLI's ``schedule-fire``: one item at
once, marked with the schedule, its timing unchanged; audited under the caller.
"""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse

from ..audit import Actor, record
from ..exceptions import InvalidName
from ..models import Schedule
from ..schedules.firing import fire_now
from ..validation import NAME_HELP, shown, validate_name
from .auth import can_fire_schedules, can_view_schedules, token_tenant
from .errors import ApiError
from .serializers import schedule_to_dict
from .views import api_view, item_response


def _schedules(request: HttpRequest) -> QuerySet[Schedule]:
    """Schedules by name, each with the count of its items still in the table; for a
    tenant-bound token, its tenant's only."""
    alive = Q(items__deleted_at__isnull=True)
    rows = Schedule.objects.annotate(item_count=Count("items", filter=alive)).order_by("name")
    tenant = token_tenant(request)
    return rows if tenant is None else rows.filter(tenant=tenant)


def _as_dict(schedule: Schedule) -> dict[str, object]:
    return schedule_to_dict(schedule, getattr(schedule, "item_count", 0))


def _get_schedule(request: HttpRequest, name: str) -> Schedule:
    try:
        validate_name(name, "schedule name")
    except InvalidName:
        # Schedules are named under this rule (admin, settings, CLI); a name outside it, such
        # as one with a NUL byte, which PostgreSQL would refuse, never reaches SQL.
        raise ApiError(
            404, "not_found", f"There is no schedule {shown(name)}: use {NAME_HELP}."
        ) from None
    schedule = _schedules(request).filter(name=name).first()
    if schedule is None:
        raise ApiError(404, "not_found", f"There is no schedule {shown(name)}.")
    return schedule


@api_view(GET=can_view_schedules)
def schedules(request: HttpRequest) -> HttpResponse:
    """Every schedule, by name, with its next fire times."""
    return JsonResponse({"results": [_as_dict(schedule) for schedule in _schedules(request)]})


@api_view(GET=can_view_schedules)
def schedule(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse(_as_dict(_get_schedule(request, name)))


@api_view(POST=can_fire_schedules)
def fire_schedule(request: HttpRequest, name: str) -> HttpResponse:
    """201 with the new item, as POST /jobs answers; the body, if any, is ignored. A disabled
    schedule fires too (an operator asked for it); its next fire times stay as they were."""
    schedule = _get_schedule(request, name)
    item = fire_now(schedule)
    record(
        Actor(request.user, "api"),
        Schedule,
        [(schedule.pk, schedule.name)],
        f"Fired now: item #{item.pk}",
    )
    return item_response(request, item, status=201)
