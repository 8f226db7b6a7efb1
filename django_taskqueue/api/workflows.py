"""The HTTP API's workflows: create a chain or group from its JSON form, list and read them,
cancel one.

Creating is ``enqueue_workflow(from_json(...))``: every step is checked as ``enqueue_by_alias``
checks an item, and one refused step writes nothing. Canceling is ``actions.cancel_workflow``,
as the admin's button.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from .. import actions
from ..audit import Actor
from ..exceptions import InvalidValue
from ..lineage import StepRow, status_counts, workflow_steps
from ..models import Workflow
from ..models.workflows import StatusCounts
from ..validation import parse_item_id, shown
from ..workflows import Chain, Group, Node, Step, enqueue_workflow, from_json
from .auth import (
    can_cancel_workflows,
    can_enqueue,
    can_view_workflows,
    tenant_in_force,
    token_tenant,
)
from .errors import ApiError
from .serializers import json_body, page_bounds, parse_run_at, status_filter, tenant_filter
from .views import api_view

CREATE_FIELDS = {"name", "workflow", "tenant"}
# A workflow's page lists this many of its steps; the counts cover all of them, and
# GET /jobs?workflow=ID lists every one.
MAX_LISTED_STEPS = 1000


def workflow_to_dict(
    workflow: Workflow, counts: StatusCounts, steps: list[StepRow] | None = None
) -> dict[str, Any]:
    """A workflow as the list shows it; with ``steps``, as its own page does."""
    body: dict[str, Any] = {
        "id": workflow.pk,
        "name": workflow.name,
        "status": workflow.status,
        "created_at": workflow.created_at,
        "completed_at": workflow.completed_at,
        "counts": dict(counts),
        "tenant": workflow.tenant,
    }
    if steps is not None:
        body["items"] = [
            {"id": step.id, "alias": step.alias, "status": step.status, "parents": step.parents}
            for step in steps
        ]
    return body


def _get_workflow(request: HttpRequest, workflow_id: str) -> Workflow:
    """The workflow, or 404; for a tenant-bound token another tenant's does not exist."""
    try:
        pk = parse_item_id(workflow_id)
    except InvalidValue:
        raise ApiError(
            404,
            "not_found",
            f"There is no workflow {shown(workflow_id)}: workflow ids are positive integers.",
        ) from None
    workflows = Workflow.objects.filter(pk=pk)
    tenant = token_tenant(request)
    if tenant is not None:
        workflows = workflows.filter(tenant=tenant)
    workflow = workflows.first()
    if workflow is None:
        raise ApiError(404, "not_found", f"There is no workflow #{pk}.")
    return workflow


def _page(workflow: Workflow, status: int = 200) -> JsonResponse:
    body = workflow_to_dict(workflow, workflow.counts, workflow_steps(workflow, MAX_LISTED_STEPS))
    return JsonResponse(body, status=status)


@api_view(GET=can_view_workflows, POST=can_enqueue)
def workflows(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        body = json_body(request)
        name, description = _create_arguments(body)
        tenant = tenant_in_force(request, body.get("tenant"))
        workflow = enqueue_workflow(description, name=name, tenant=tenant)
        response = _page(workflow, status=201)
        namespace = request.resolver_match.namespace if request.resolver_match else None
        response["Location"] = reverse(
            "taskqueue_api:workflow", args=[workflow.pk], current_app=namespace
        )
        return response
    status = status_filter(request.GET, Workflow.Status.values)
    limit, before_id = page_bounds(request.GET)
    rows = Workflow.objects.order_by("-id")
    tenant = tenant_filter(tenant_in_force(request, request.GET.get("tenant") or None))
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    if status is not None:
        rows = rows.filter(status=status)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    page = list(rows[: limit + 1])  # one extra row tells whether a next page exists
    more = len(page) > limit
    page = page[:limit]
    counts = status_counts(page)
    return JsonResponse(
        {
            "results": [workflow_to_dict(workflow, counts[workflow.pk]) for workflow in page],
            "next": str(page[-1].pk) if more else None,
        }
    )


@api_view(GET=can_view_workflows)
def workflow(request: HttpRequest, workflow_id: str) -> HttpResponse:
    return _page(_get_workflow(request, workflow_id))


@api_view(POST=can_cancel_workflows)
def cancel_workflow(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """Cancels the waiting and queued steps at once and asks the runners of running ones to
    stop them; 409 once the workflow is finished."""
    workflow = _get_workflow(request, workflow_id)
    if workflow.is_finished:
        raise ApiError(
            409,
            "invalid_transition",
            f"Workflow #{workflow.pk} is {workflow.status}: it has nothing left to cancel.",
        )
    actions.cancel_workflow(workflow, actor=Actor(request.user, "api"))
    return _page(workflow)


def _create_arguments(body: dict[str, Any]) -> tuple[str | None, Node]:
    """``(name, description)`` from a POST /workflows body; the steps' own rules are
    ``enqueue_workflow``'s."""
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise ApiError(
            400,
            "invalid_request",
            f"Unknown field(s): {', '.join(unknown)}; give name, workflow, tenant.",
        )
    if "workflow" not in body:
        raise ApiError(400, "invalid_request", "Give the steps as 'workflow' (see the docs).")
    try:
        description = from_json(body["workflow"])
    except RecursionError:
        raise ApiError(400, "invalid_request", "'workflow' is nested too deeply.") from None
    for number, step in enumerate(_steps(description), start=1):
        run_at = step.options.get("run_at")
        if isinstance(run_at, str):  # JSON has no dates: the ISO text the jobs take, parsed
            try:
                step.options["run_at"] = parse_run_at(run_at)
            except ApiError as exc:
                exc.message = f"Step {number} ({shown(step.alias, 40)}): {exc.message}"
                raise
    return body.get("name"), description


def _steps(node: Node) -> Iterator[Step]:
    """The steps of a description in the order ``enqueue_workflow`` numbers them."""
    if isinstance(node, Chain):
        for part in node.parts:
            yield from _steps(part)
    elif isinstance(node, Group):
        for member in node.members:
            yield from _steps(member)
        if node.then is not None:
            yield from _steps(node.then)
    elif isinstance(node, Step):
        yield node
