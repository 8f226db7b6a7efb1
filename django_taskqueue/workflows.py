"""Chains and groups of steps, enqueued as one graph: ``enqueue_workflow``.

A step is ``(alias, parameters)`` or ``(alias, parameters, options)``. ``chain(a, b, c)``
runs its parts one after the other; ``group(a, b, then=c)`` runs its members side by side
and ``then`` once all have succeeded (fan-in); they nest. Each step becomes an item; one
that follows others waits for them (``depends_on``), so the whole graph is as durable as an
item, and the store releases each step as its parents finish.

The same description has a JSON form, for the HTTP API and the CLI (``from_json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

from django.db import transaction
from django.utils import timezone

from . import tracing
from .dependencies import check_on_parent_failure
from .enqueue import check_arguments
from .exceptions import InvalidParameters, TaskQueueError
from .inserts import insert_items
from .jsonvalues import encode_parameters
from .limits import check_concurrency_key
from .models import Workflow
from .store import get_store
from .tenants import check_tenant
from .validation import one_queue_name, shown
from .webhooks.urls import check_webhook_url

MAX_STEPS = 100_000
MAX_NAME_LENGTH = 200
STEP_OPTIONS = frozenset(
    {
        "queue_name",
        "queue",
        "priority",
        "run_at",
        "delay",
        "concurrency_key",
        "webhook_url",
        "on_parent_failure",
    }
)


@dataclass(frozen=True)
class Step:
    alias: str
    parameters: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chain:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Group:
    members: tuple[Node, ...]
    then: Node | None = None


Node = Union[Step, Chain, Group, tuple, list]  # noqa: UP007 - a runtime alias


def chain(*parts: Node) -> Chain:
    """Run ``parts`` in order: each starts once the one before has succeeded."""
    if not parts:
        raise InvalidParameters("chain() needs at least one step.")
    return Chain(tuple(parts))


def group(*members: Node, then: Node | None = None) -> Group:
    """Run ``members`` side by side, and ``then`` (if given) once all have succeeded."""
    if not members:
        raise InvalidParameters("group() needs at least one member.")
    return Group(tuple(members), then)


@dataclass
class PlannedStep:
    """One step of the graph, checked: what its item is made of, and whom it waits for."""

    number: int  # 1-based, in the order the description lists steps
    alias: str
    encoded: str
    queue_name: str | None
    priority: int | None
    when: datetime | None  # None: the moment the workflow is written
    parents: list[int]
    on_parent_failure: str
    concurrency_key: str | None
    webhook_url: str


def plan(description: Node) -> list[PlannedStep]:
    """The description as steps in order, each naming its parents by index; every rule
    checked before anything is written."""
    steps: list[PlannedStep] = []
    _plan(description, [], steps)
    return steps


def _plan(node: Node, after: list[int], steps: list[PlannedStep]) -> list[int]:
    """Add ``node``'s steps, its first ones waiting for ``after``; the indexes it ends with."""
    if isinstance(node, Chain):
        ends = after
        for part in node.parts:
            ends = _plan(part, ends, steps)
        return ends
    if isinstance(node, Group):
        ends = [end for member in node.members for end in _plan(member, after, steps)]
        return ends if node.then is None else _plan(node.then, ends, steps)
    if len(steps) >= MAX_STEPS:
        raise InvalidParameters(f"A workflow has at most {MAX_STEPS:,} steps.")
    steps.append(_checked_step(_as_step(node, len(steps) + 1), len(steps) + 1, after))
    return [len(steps) - 1]


def _as_step(node: Any, number: int) -> Step:
    if isinstance(node, Step):
        return node
    if isinstance(node, (tuple, list)) and len(node) in (2, 3) and isinstance(node[0], str):
        options = node[2] if len(node) == 3 else {}
        if not isinstance(options, dict):
            raise InvalidParameters(
                f"Step {number} ({node[0]}): options must be a dict, not {type(options).__name__}."
            )
        return Step(node[0], node[1], options)
    raise InvalidParameters(
        f"Step {number}: expected (alias, parameters) or (alias, parameters, options), a "
        f"chain() or a group(), not {shown(node)}."
    )


def _checked_step(step: Step, number: int, parents: list[int]) -> PlannedStep:
    try:
        options = dict(step.options)
        unknown = sorted(set(options) - STEP_OPTIONS)
        if unknown:
            raise InvalidParameters(
                f"unknown option(s) {', '.join(unknown)}; a step takes "
                f"{', '.join(sorted(STEP_OPTIONS))}."
            )
        queue_name = one_queue_name(
            options.get("queue"), options.get("queue_name"), InvalidParameters
        )
        priority = options.get("priority")
        when = check_arguments(
            step.alias, queue_name, priority, options.get("run_at"), options.get("delay")
        )
        return PlannedStep(
            number=number,
            alias=step.alias,
            encoded=encode_parameters(step.parameters),
            queue_name=queue_name,
            priority=priority,
            when=None if options.get("run_at") is None and options.get("delay") is None else when,
            parents=list(parents),
            on_parent_failure=check_on_parent_failure(options.get("on_parent_failure", "cancel")),
            concurrency_key=check_concurrency_key(options.get("concurrency_key")),
            webhook_url=check_webhook_url(options.get("webhook_url"), InvalidParameters),
        )
    except TaskQueueError as exc:
        exc.args = (f"Step {number} ({shown(step.alias, 40)}): {exc}", *exc.args[1:])
        raise


def enqueue_workflow(
    description: Node, name: str | None = None, tenant: str | None = None
) -> Workflow:
    """Write the whole graph of ``description`` in one transaction and return its Workflow.

    Atomic with the caller's transaction, like ``enqueue_by_alias``: inside ``atomic()``,
    runners see the steps at commit, and nothing is written when any step is refused.
    ``tenant`` is the workflow's and every step's (a workflow belongs to one tenant), and
    the key of the steps given no ``concurrency_key``, as with ``enqueue_by_alias``.
    """
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME_LENGTH):
        raise InvalidParameters(
            f"name must be text of at most {MAX_NAME_LENGTH} characters, not {shown(name)}."
        )
    tenant = check_tenant(tenant)
    steps = plan(description)
    store = get_store()
    now = timezone.now()
    send = tracing.sending(store, alias=None, queue_name=None, batch=True)
    with transaction.atomic(using=store.using), send:
        workflow = Workflow.objects.using(store.using).create(
            name=name or "", tenant=tenant, created_at=now, updated_at=now
        )
        ids = _insert_steps(store, steps, now)
        store.mark_steps(
            ids,
            workflow_id=workflow.pk,
            waiting=[ids[i] for i, step in enumerate(steps) if step.parents],
            run_on_parent_failure=[
                ids[i] for i, step in enumerate(steps) if step.on_parent_failure == "run"
            ],
            webhook_urls=_grouped(ids, steps, "webhook_url"),
        )
        keys = _grouped(ids, steps, "concurrency_key")
        if keys:
            store.set_concurrency_keys(keys)
        if tenant is not None:
            store.set_tenant(tenant, ids)
        store.add_dependencies(
            {ids[i]: [ids[p] for p in step.parents] for i, step in enumerate(steps) if step.parents}
        )
    return workflow


def _insert_steps(store: Any, steps: Sequence[PlannedStep], now: datetime) -> list[int]:
    """The steps' rows through the one insert, one statement per kind of step (same alias,
    queue, priority and time); their ids in step order."""
    kinds: dict[tuple[Any, ...], list[int]] = {}
    for index, step in enumerate(steps):
        kinds.setdefault((step.alias, step.queue_name, step.priority, step.when), []).append(index)
    ids = [0] * len(steps)
    for (alias, queue_name, priority, when), indexes in kinds.items():
        encoded = [steps[i].encoded for i in indexes]
        rows = insert_items(store, alias, encoded, queue_name, priority, when or now, now)
        for index, row in zip(indexes, rows, strict=True):
            ids[index] = row[0]
    return ids


def _grouped(ids: list[int], steps: Sequence[PlannedStep], name: str) -> dict[str, list[int]]:
    """The step ids per value of ``name``, for the steps that have one."""
    grouped: dict[str, list[int]] = {}
    for item_id, step in zip(ids, steps, strict=True):
        value = getattr(step, name)
        if value:
            grouped.setdefault(value, []).append(item_id)
    return grouped


def from_json(value: Any, path: str = "workflow") -> Node:
    """A description from its JSON form: a step is ``{"alias": ..., "parameters": {...},
    "options": {...}}`` (or ``[alias, parameters, options]``), a chain ``{"chain": [...]}``,
    a group ``{"group": [...], "then": ...}``."""
    if isinstance(value, list):
        return _as_step(value, 0) if value and isinstance(value[0], str) else _invalid(path)
    if not isinstance(value, dict):
        return _invalid(path)
    if "chain" in value and set(value) == {"chain"} and isinstance(value["chain"], list):
        return chain(
            *(from_json(part, f"{path}.chain[{i}]") for i, part in enumerate(value["chain"]))
        )
    if "group" in value and set(value) <= {"group", "then"} and isinstance(value["group"], list):
        then = value.get("then")
        return group(
            *(from_json(part, f"{path}.group[{i}]") for i, part in enumerate(value["group"])),
            then=None if then is None else from_json(then, f"{path}.then"),
        )
    if "alias" in value and set(value) <= {"alias", "parameters", "options"}:
        options = value.get("options") or {}
        if not isinstance(value["alias"], str) or not isinstance(options, dict):
            return _invalid(path)
        return Step(value["alias"], value.get("parameters"), options)
    return _invalid(path)


def _invalid(path: str) -> Any:
    raise InvalidParameters(
        f"{path}: expected a step {{'alias', 'parameters', 'options'}}, {{'chain': [...]}} or "
        "{'group': [...], 'then': ...}."
    )
