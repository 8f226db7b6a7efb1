"""Alias -> handler mapping.

Handlers come from two places, both chosen by developers, never by data in the database:
the ``@handler`` decorator in an app's ``tasks.py`` (autodiscovered at start-up) and the
``TASKQUEUE["HANDLERS"]`` setting, whose dotted paths are imported only when first needed so a
broken import fails the items that need it instead of the whole runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from .conf import app_settings
from .exceptions import HandlerNotFound, InvalidValue, UnknownAlias
from .limits import check_rate_limit
from .retries import (
    EXPONENTIAL,
    BackoffFunction,
    RetryPolicy,
    backoff_kind,
    exception_classes,
)
from .uniqueness import UNIQUE_SCOPES, unique_period
from .validation import (
    check_concurrency_limit,
    check_max_attempts,
    check_priority,
    check_seconds,
    check_timeout,
    one_queue_name,
    storable_text,
    validate_name,
)
from .webhooks.urls import check_webhook_url

# The lengths of TaskDefinition.title and .handler (the path is for reference only).
TITLE_MAX_LENGTH = 200
HANDLER_PATH_MAX_LENGTH = 255


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and the defaults its definition row is created with."""

    alias: str
    func: Callable[..., Any] | None
    path: str
    queue: str | None = None
    priority: int = 0
    max_attempts: int | None = None
    timeout_seconds: float | None = None
    retry_backoff_seconds: float | None = None
    title: str = ""
    description: str = ""
    backoff: str = EXPONENTIAL  # the definition's kind of backoff; CODE: retry_policy's function
    max_backoff_seconds: float | None = None
    retry_policy: RetryPolicy = RetryPolicy()
    unique_while: str = "queued"
    unique_for_seconds: float | None = None
    concurrency_limit: int | None = None
    rate_limit: str = ""
    key_concurrency_limit: int | None = None
    key_rate_limit: str = ""
    webhook_url: str = ""


_registry: dict[str, HandlerSpec] = {}
# Aliases under a family's prefix that this process never registered run the family's
# handler: the Tasks backend's per-task definitions ("django.tasks.<path>") all run one
# function, which finds the task from the item, so a runner need not import every task.
_families: dict[str, str] = {}  # prefix -> alias of the handler


def register_family(prefix: str, alias: str) -> None:
    _families[prefix] = alias


def handler(
    alias: str,
    *,
    queue: str | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    timeout_seconds: float | None = None,
    retry_backoff_seconds: float | None = None,
    title: str = "",
    queue_name: str | None = None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
    give_up_on: type[BaseException] | tuple[type[BaseException], ...] = (),
    backoff: str | BackoffFunction | None = None,
    max_backoff_seconds: float | None = None,
    unique_while: str = "queued",
    unique_for: str | float | None = None,
    concurrency_limit: int | None = None,
    rate_limit: str | None = None,
    key_concurrency_limit: int | None = None,
    key_rate_limit: str | None = None,
    webhook_url: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the handler of ``alias``.

    ``queue_name`` (the main spelling, as in ``enqueue_by_alias``) and ``queue`` are the same
    option: the queue its items go to unless the caller names another.

    ``retry_on`` and ``give_up_on`` are exception classes: only the first are retried, the
    second fail the item at once. ``backoff`` is ``"exponential"`` (the default),
    ``"linear"``, ``"constant"`` or a function ``(attempt) -> seconds``; with
    ``retry_backoff_seconds`` (its base) and ``max_backoff_seconds`` (its cap) it seeds the
    definition row, where operators may change them.

    ``unique_while`` (``"queued"`` or ``"active"``) or ``unique_for`` (a period: ``"10m"`` or
    seconds) say what "at most one item" means for items enqueued with a ``unique_key``.
    ``concurrency_limit`` caps its items running at once, across every runner, and
    ``rate_limit`` (``"20/s"``, ``"100/m"``, ``"1000/h"``) the attempts started in any sliding
    window; ``key_concurrency_limit`` and ``key_rate_limit`` do the same for each value of the
    items' ``concurrency_key`` (see ``limits.py``). ``webhook_url`` is where each item's final
    outcome is POSTed, signed (see ``docs/webhooks.md``).

    The keyword arguments are defaults for the definition row, used only when that row is first
    created; afterwards the row, which operators may edit, is what counts.
    """
    validate_name(alias, "alias")
    queue = one_queue_name(queue, queue_name)
    if queue is not None:
        validate_name(queue, "queue name")
    check_priority(priority, InvalidValue)
    if max_attempts is not None:
        check_max_attempts(max_attempts)
    check_timeout(timeout_seconds)
    if retry_backoff_seconds is not None:
        check_seconds(retry_backoff_seconds, "retry_backoff_seconds")
    if not isinstance(title, str) or len(title) > TITLE_MAX_LENGTH or storable_text(title)[1]:
        raise InvalidValue(f"title must be text of at most {TITLE_MAX_LENGTH} characters.")
    if max_backoff_seconds is not None:
        check_seconds(max_backoff_seconds, "max_backoff_seconds")
    policy = RetryPolicy(
        retry_on=exception_classes(retry_on, "retry_on"),
        give_up_on=exception_classes(give_up_on, "give_up_on"),
        backoff_function=backoff if callable(backoff) else None,
    )
    backoff_kind_of_row = backoff_kind(backoff)
    if unique_while not in UNIQUE_SCOPES:
        raise InvalidValue(f"unique_while must be 'queued' or 'active', not {unique_while!r}.")
    unique_for_seconds = None if unique_for is None else unique_period(unique_for)
    check_concurrency_limit(concurrency_limit)
    check_concurrency_limit(key_concurrency_limit, "key_concurrency_limit")
    rate_limit = check_rate_limit(rate_limit)
    key_rate_limit = check_rate_limit(key_rate_limit, "key_rate_limit")
    webhook_url = check_webhook_url(webhook_url)

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _registry[alias] = HandlerSpec(
            alias=alias,
            func=func,
            path=f"{func.__module__}.{func.__qualname__}"[:HANDLER_PATH_MAX_LENGTH],
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            retry_backoff_seconds=retry_backoff_seconds,
            title=title or alias,
            description=(func.__doc__ or "").strip(),
            backoff=backoff_kind_of_row,
            max_backoff_seconds=max_backoff_seconds,
            retry_policy=policy,
            unique_while=unique_while,
            unique_for_seconds=unique_for_seconds,
            concurrency_limit=concurrency_limit,
            rate_limit=rate_limit,
            key_concurrency_limit=key_concurrency_limit,
            key_rate_limit=key_rate_limit,
            webhook_url=webhook_url,
        )
        return func

    return register


def _settings_specs() -> dict[str, HandlerSpec]:
    return {
        alias: HandlerSpec(alias=alias, func=None, path=path, title=alias)
        for alias, path in (app_settings.HANDLERS or {}).items()
    }


def get_spec(alias: str) -> HandlerSpec:
    spec = _registry.get(alias) or _settings_specs().get(alias)
    if spec is None:
        raise UnknownAlias(alias, registered_aliases())
    return spec


def registered_aliases() -> set[str]:
    return set(_registry) | set(_settings_specs())


def is_registered(alias: str) -> bool:
    """``alias in registered_aliases()``, without building the set: enqueue's hot path."""
    return alias in _registry or alias in (app_settings.HANDLERS or {})


def all_specs() -> list[HandlerSpec]:
    return [get_spec(alias) for alias in sorted(registered_aliases())]


def resolve_handler(alias: str) -> Callable[..., Any]:
    """The callable for ``alias``, importing a settings path on first use."""
    try:
        spec = get_spec(alias)
    except UnknownAlias as exc:
        for prefix, family_alias in _families.items():
            if alias.startswith(prefix) and family_alias != alias:
                return resolve_handler(family_alias)
        raise HandlerNotFound(
            f"No handler is registered for alias {alias!r} in this process. Register one with "
            f"@handler({alias!r}) in an installed app's tasks.py or in TASKQUEUE['HANDLERS']."
        ) from exc
    if spec.func is not None:
        return spec.func
    try:
        func = import_string(spec.path)
    except Exception as exc:  # any import-time error is the handler's fault, not the runner's
        raise HandlerNotFound(
            f"Handler {spec.path!r} for alias {alias!r} cannot be imported: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    _registry[alias] = HandlerSpec(**{**spec.__dict__, "func": func})
    return func


def unregister(alias: str) -> None:
    """Remove a decorator registration (used by tests that register temporary handlers)."""
    _registry.pop(alias, None)
