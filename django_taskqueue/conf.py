"""App settings, read live from ``settings.TASKQUEUE`` so ``override_settings`` works.

Every key has a default here; the settings reference in ``docs/settings.md`` documents them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

DEFAULTS: dict[str, Any] = {
    # The database alias holding the queue's tables; another one than "default" needs a router
    # (docs/settings.md#database).
    "DATABASE": "default",
    # Queue used when neither the call nor the definition names one.
    "DEFAULT_QUEUE": "default",
    # Attempts an item gets when its definition does not say otherwise.
    "DEFAULT_MAX_ATTEMPTS": 3,
    # Retry delay = min(BASE * 2 ** (attempt - 1), MAX) seconds, plus up to 25% jitter.
    "DEFAULT_RETRY_BACKOFF_SECONDS": 5,
    "DEFAULT_RETRY_BACKOFF_MAX_SECONDS": 3600,
    # Per-attempt time limit in seconds; None means no limit.
    "DEFAULT_TIMEOUT_SECONDS": None,
    # Upper bound on the JSON-encoded size of one item's parameters.
    "MAX_PARAMETERS_BYTES": 1024 * 1024,
    # Upper bound on the JSON-encoded size of a handler's return value; larger fails the item.
    "MAX_OUTPUT_BYTES": 10 * 1024 * 1024,
    # Handlers registered by dotted path, imported lazily by the runner: {"Alias": "app.tasks.fn"}.
    "HANDLERS": {},
    # Runner defaults, all overridable on the ``runqueue`` command line.
    "RUNNER_CONCURRENCY": 10,
    "RUNNER_INTERVAL_SECONDS": 1.0,
    "RUNNER_UNSTUCK_MINUTES": 5.0,
    "RUNNER_HEARTBEAT_SECONDS": 5.0,
    "RUNNER_SHUTDOWN_GRACE_SECONDS": 30.0,
    # Outcomes are written in batches: whichever of these comes first triggers a flush.
    "COMPLETION_FLUSH_SECONDS": 0.1,
    "COMPLETION_FLUSH_SIZE": 100,
    # PostgreSQL only: wake idle runners with LISTEN/NOTIFY. Turn off behind PgBouncer in
    # transaction mode, where LISTEN does not work; runners then poll.
    "USE_LISTEN_NOTIFY": True,
    # PostgreSQL behind a pooler in transaction mode: a database alias that connects straight
    # to the server, used only for the LISTEN connections of runners and wait(); NOTIFY still
    # goes through the pooler with each transaction (docs/runners.md#pgbouncer).
    "LISTEN_DATABASE": None,
    # Finished items older than this many days are removed by the runners and by
    # ``prune_finished_items``; RETENTION sets it per status (docs/settings.md#retention).
    "RETENTION_DAYS": 30,
    "RETENTION": None,
    # Pruning deletes this many items per transaction, and runners prune every so often
    # (0: runners leave it to ``taskqueue prune`` or cron).
    "PRUNE_BATCH_SIZE": 1000,
    "PRUNE_INTERVAL_SECONDS": 60,
    # HTTP API: bearer JWT (HS256) secret, defaulting to SECRET_KEY, and token lifetime.
    "API_JWT_SECRET": None,
    # HTTP API: the one signing algorithm tokens must use (HS256, HS384 or HS512).
    "API_JWT_ALGORITHM": "HS256",
    "API_JWT_LIFETIME_SECONDS": 3600,
    # HTTP API: /health and /metrics need the view_queueitem permission unless made public
    # here, for load balancers and Prometheus scrapers that cannot send a token.
    "API_HEALTH_PUBLIC": False,
    "API_METRICS_PUBLIC": False,
    # /metrics: taskqueue_items by tenant too, for the METRICS_TENANT_LIMIT tenants with the
    # most items (the others summed as "_other"), so the series stay bounded.
    "METRICS_TENANT_LABEL": False,
    "METRICS_TENANT_LIMIT": 50,
    # /health says "degraded" when due items on a queue no live runner serves have waited
    # longer than this many seconds.
    "HEALTH_MAX_WAIT_SECONDS": 300,
    # Schedules declared in code, name to fields (docs/schedules.md); created in the database
    # by every runner's start and by ``taskqueue sync``, then edited by operators.
    "SCHEDULES": {},
    # A schedule's fire time is on time while younger than this; older ones were missed, and
    # the schedule's misfire policy says what becomes of them.
    "SCHEDULE_MISFIRE_GRACE_SECONDS": 60,
    # Result webhooks (docs/webhooks.md): the key their HMAC-SHA256 signature is made with
    # (SECRET_KEY when None), the queue deliveries are items of, the hosts on loopback or
    # private networks a URL may name, and the bounds of one delivery.
    "WEBHOOK_SECRET": None,
    "WEBHOOK_QUEUE": "webhooks",
    "WEBHOOK_ALLOWED_HOSTS": [],
    "WEBHOOK_TIMEOUT_SECONDS": 10.0,
    "WEBHOOK_MAX_RESPONSE_BYTES": 64 * 1024,
    "WEBHOOK_MAX_ATTEMPTS": 8,
    # OpenTelemetry spans for enqueues and attempts (docs/tracing.md): on when the ``otel``
    # extra is installed and a tracer provider is set; False turns them off regardless.
    "TRACING": True,
}


# The signing algorithms API_JWT_ALGORITHM may name: shared-secret HMACs only.
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")


class TaskQueueSettings:
    """Attribute access to the merged settings, evaluated on every read."""

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown django-taskqueue setting: {name}")
        user = getattr(django_settings, "TASKQUEUE", {}) or {}
        return user.get(name, DEFAULTS[name])


app_settings = TaskQueueSettings()
