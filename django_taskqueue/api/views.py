"""The HTTP API's views: thin doors onto ``enqueue_by_alias``, ``apply_action`` and ``stats``.

Every view goes through ``api_view``, which answers wrong methods, missing credentials and
missing permissions before the view runs, and turns every expected failure into the one JSON
error shape, so no input reaches a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from ..actions import apply_action, set_queue_limits
from ..audit import Actor
from ..conf import app_settings
from ..dependencies import check_depends_on, missing_parents
from ..enqueue import enqueue_by_alias
from ..exceptions import InvalidValue, TaskQueueError
from ..lineage import children_of, parents_of
from ..models import QueueItem, QueueState
from ..stats import live_runners, queue_overview
from ..store import get_store
from ..validation import parse_item_id, shown, validate_name
from . import metrics as prometheus
from .auth import (
    Requirement,
    authenticate,
    can_apply,
    can_enqueue,
    can_manage_queues,
    can_view,
    tenant_in_force,
    token_tenant,
)
from .errors import ApiError
from .health import health_report
from .serializers import (
    enqueue_arguments,
    item_to_dict,
    json_body,
    list_query,
    queue_limits_arguments,
    queue_to_dict,
)

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
# The window behind the "finished recently" numbers of /metrics.
METRICS_WINDOW_MINUTES = 15


def api_view(
    *,
    public_when: Callable[[], bool] | None = None,
    shared: bool = False,
    **requirements: Requirement,
) -> Callable[[View], View]:
    """Allow the HTTP methods named as keywords, each guarded by a permission requirement.

    ``public_when`` lets a setting waive authentication (for /health and /metrics). A
    ``shared`` view shows or changes what every tenant shares (queues, health, metrics), so a
    tenant-bound token is refused there. The view is CSRF-exempt for token clients;
    ``authenticate`` re-imposes CSRF on session requests.
    """
    allowed = ", ".join(sorted(requirements))

    def decorator(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                requirement = requirements.get(request.method or "")
                if requirement is None:
                    raise ApiError(
                        405,
                        "method_not_allowed",
                        f"Method {request.method} is not allowed here; use {allowed}.",
                        {"Allow": allowed},
                    )
                if not (public_when and public_when()):
                    user = authenticate(request)
                    if shared and token_tenant(request) is not None:
                        raise ApiError(
                            403,
                            "permission_denied",
                            f"This token is bound to tenant {token_tenant(request)!r}; "
                            "this endpoint covers every tenant.",
                        )
                    if not requirement(user):
                        raise ApiError(
                            403, "permission_denied", "You do not have permission to do this."
                        )
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except TaskQueueError as exc:
                return ApiError.from_taskqueue_error(exc).response()
            except (OperationalError, InterfaceError):
                logger.exception("HTTP API: database unavailable")
                return ApiError(
                    503, "database_unavailable", "The database cannot be reached."
                ).response()
            except Exception:  # noqa: BLE001 - a bug of ours: logged, still the JSON shape
                logger.exception("HTTP API: unexpected error")
                return ApiError(
                    500, "internal_error", "The server failed to answer; the error is logged."
                ).response()

        return wrapper

    return decorator


def _get_item(request: HttpRequest, item_id: str) -> QueueItem:
    """The item, or 404; for a tenant-bound token another tenant's item does not exist."""
    try:
        pk = parse_item_id(item_id)
    except InvalidValue:
        raise ApiError(
            404, "not_found", f"There is no job {shown(item_id)}: job ids are positive integers."
        ) from None
    items = QueueItem.objects.select_related("definition", "schedule").filter(pk=pk)
    tenant = token_tenant(request)
    if tenant is not None:
        items = items.filter(tenant=tenant)
    item = items.first()
    if item is None:
        raise ApiError(404, "not_found", f"There is no job #{pk}.")
    return item


@api_view(GET=can_view, POST=can_enqueue)
def jobs(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        alias, kwargs = enqueue_arguments(json_body(request))
        kwargs["tenant"] = tenant_in_force(request, kwargs.get("tenant"))
        if token_tenant(request) is not None:
            _refuse_other_tenants_parents(kwargs.get("depends_on"), kwargs["tenant"])
        item = enqueue_by_alias(alias, **kwargs)
        if item.duplicate and token_tenant(request) not in (None, item.tenant):
            raise ApiError(
                409,
                "duplicate_item",
                "The unique key is held by an item of another tenant; give tenants keys of "
                "their own.",
            )
        # 200 with the item that already held the unique key; 201 for a new one.
        return item_response(request, item, status=200 if item.duplicate else 201)
    query = list_query(request.GET, tenant_in_force(request, request.GET.get("tenant") or None))
    page = query.items()
    more = len(page) > query.limit
    page = page[: query.limit]
    return JsonResponse(
        {
            "results": items_as_json(page),
            "next": str(page[-1].pk) if more else None,
        }
    )


def _refuse_other_tenants_parents(depends_on: Any, tenant: str) -> None:
    """A tenant-bound token's item waits only for its tenant's items: the others do not exist
    for it, and are refused as missing parents are."""
    parents = check_depends_on(depends_on)
    mine = set(QueueItem.objects.filter(pk__in=parents, tenant=tenant).values_list("pk", flat=True))
    others = [parent for parent in parents if parent not in mine]
    if others:
        raise missing_parents(others)


@api_view(GET=can_view)
def job(request: HttpRequest, item_id: str) -> HttpResponse:
    return JsonResponse(items_as_json([_get_item(request, item_id)])[0])


def item_response(request: HttpRequest, item: QueueItem, status: int) -> JsonResponse:
    """An item just made (or found), as POST /jobs answers: the item, its address in
    ``Location``."""
    response = JsonResponse(items_as_json([item])[0], status=status)
    namespace = request.resolver_match.namespace if request.resolver_match else None
    response["Location"] = reverse("taskqueue_api:job", args=[item.pk], current_app=namespace)
    return response


def items_as_json(items: list[QueueItem]) -> list[dict[str, Any]]:
    """Items as the API shows them, with why they wait and their links, read for the whole
    list at once: the queries do not grow with its length."""
    reasons = get_store().waiting_reasons(items)
    ids = [item.pk for item in items]
    parents, children = parents_of(ids), children_of(ids)
    return [
        item_to_dict(
            item, reasons.get(item.pk), parents.get(item.pk, ()), children.get(item.pk, ())
        )
        for item in items
    ]


@api_view(GET=can_view, shared=True)
def queues(request: HttpRequest) -> HttpResponse:
    """Every queue that has items or settings, with its pause switch and limits."""
    states = {state.name: state for state in QueueState.objects.all()}
    names = sorted(set(states) | {overview.name for overview in queue_overview(1)})
    return JsonResponse(
        {"results": [queue_to_dict(states.get(name) or QueueState(name=name)) for name in names]}
    )


@api_view(GET=can_view, PATCH=can_manage_queues, shared=True)
def queue(request: HttpRequest, name: str) -> HttpResponse:
    """A queue's limits; PATCH ``{"concurrency_limit": 5, "rate_limit": "20/s"}`` sets them."""
    name = validate_name(name, "queue name")
    state = QueueState.objects.filter(name=name).first() or QueueState(name=name)
    if request.method == "PATCH":
        arguments = queue_limits_arguments(json_body(request), state)
        state = set_queue_limits(name, **arguments, actor=Actor(request.user, "api"))
    return JsonResponse(queue_to_dict(state))


def _apply(request: HttpRequest, action: str, item_id: str) -> HttpResponse:
    item = _get_item(request, item_id)
    report = apply_action(action, [item], actor=Actor(request.user, "api"))
    if item.pk in report.skipped:
        raise ApiError(409, "invalid_transition", report.skipped[item.pk])
    item.refresh_from_db()
    return JsonResponse(items_as_json([item])[0])


@api_view(POST=can_apply("cancel"))
def cancel_job(request: HttpRequest, item_id: str) -> HttpResponse:
    """Cancels a waiting item; for a running one, asks its runner to stop it (200 either way)."""
    return _apply(request, "cancel", item_id)


@api_view(POST=can_apply("requeue"))
def requeue_job(request: HttpRequest, item_id: str) -> HttpResponse:
    return _apply(request, "requeue", item_id)


@api_view(GET=can_view, public_when=lambda: app_settings.API_HEALTH_PUBLIC, shared=True)
def health(request: HttpRequest) -> HttpResponse:
    """200 "ok", or 503 "degraded" with the reasons (see ``health.py``); 503 with an error
    body when the database cannot be reached."""
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@api_view(GET=can_view, public_when=lambda: app_settings.API_METRICS_PUBLIC, shared=True)
def metrics(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(minutes=METRICS_WINDOW_MINUTES)
    store = get_store()
    text = prometheus.render(
        queue_overview(window_minutes=METRICS_WINDOW_MINUTES),
        len(live_runners()),
        METRICS_WINDOW_MINUTES,
        store.attempt_histograms(since, prometheus.BUCKETS),
        store.counts_by_tenant() if app_settings.METRICS_TENANT_LABEL else None,
    )
    return HttpResponse(text, content_type=prometheus.CONTENT_TYPE)


@csrf_exempt
def unknown_path(request: HttpRequest, path: str) -> HttpResponse:
    """Any other URL under the API: the documented JSON 404, not Django's HTML page."""
    return ApiError(
        404, "not_found", f"There is no API endpoint at {shown(request.path)}."
    ).response()
