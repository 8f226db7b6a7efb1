"""A queue table of millions of rows, shaped like a busy site's, and the pages that must stay
quick on it (issue 15's big-table targets). Used by ``bench/scale.py --big-rows N``.

The rows: six queues, ten definitions, over thirty days, ids rising with ``created_at``;
93% succeeded, 4% failed (with an error), 2.5% canceled, 0.5% queued (none on ``bench``, the
queue the claim measurement drains), one in 200 soft-deleted, one in ten with one of twenty
tenants. The secondary indexes are dropped for the load and built again from their own
definitions afterwards, then the table is vacuumed and analysed, as autovacuum would have.

The pages are fetched in-process through Django's test client (the full request: URL
routing, middleware, login or token, the queries, the template or JSON), so the times are
the server's, without a network.
"""

from __future__ import annotations

import datetime
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.measure import percentile

QUEUES = ["bench", "default", "emails", "reports", "images", "webhooks"]
ALIASES = ["Noop", *(f"BigTable{n}" for n in range(1, 10))]
CHUNK = 1_000_000

FILL = """
INSERT INTO task_queue (definition_id, queue_name, status, parameters, output, last_error,
    last_error_class, last_error_message, attempts, max_attempts, priority, run_at,
    created_at, started_at, completed_at, updated_at, deleted_at, tenant)
SELECT
    (%(definitions)s::bigint[])[1 + g %% 10],
    queue,
    status,
    jsonb_build_object('user_id', g, 'template', 'welcome'),
    CASE WHEN status = 'success' THEN '{"sent": true}'::jsonb END,
    CASE WHEN status = 'failed' THEN
        E'Traceback (most recent call last):\\n  File "shop/tasks.py", line 12, in send\\n'
        || E'smtplib.SMTPServerDisconnected: Connection unexpectedly closed' ELSE '' END,
    CASE WHEN status = 'failed' THEN 'smtplib.SMTPServerDisconnected' ELSE '' END,
    CASE WHEN status = 'failed' THEN 'Connection unexpectedly closed' ELSE '' END,
    CASE status WHEN 'failed' THEN 3 WHEN 'queued' THEN 0 ELSE 1 END,
    3, 0, created, created,
    CASE WHEN status <> 'queued' THEN created END,
    CASE WHEN status <> 'queued' THEN created + interval '0.4 seconds' END,
    created,
    CASE WHEN g %% 200 = 0 THEN created + interval '1 hour' END,
    CASE WHEN g %% 10 = 0 THEN 'tenant-' || (g / 10 %% 20) END
FROM (
    SELECT g,
        now() - interval '30 days' * (1 - g::float8 / %(total)s) AS created,
        (%(queues)s::text[])[1 + g / 7 %% 6] AS queue,
        CASE
            WHEN (g * 7919) %% 1000 < 930 THEN 'success'
            WHEN (g * 7919) %% 1000 < 970 THEN 'failed'
            WHEN (g * 7919) %% 1000 < 995 THEN 'canceled'
            WHEN g / 7 %% 6 = 0 THEN 'success'
            ELSE 'queued'
        END AS status
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
) rows
"""


def build(rows: int, log: Callable[[str], None]) -> dict[str, float]:
    """Fill ``task_queue`` with ``rows`` items; the seconds each stage took."""
    from django.db import connection

    from django_taskqueue.models import TaskDefinition

    definitions = [
        TaskDefinition.objects.get_or_create(
            alias=alias, defaults={"handler": "tests.taskapp.tasks.noop", "queue_name": "reports"}
        )[0].pk
        for alias in ALIASES
    ]
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'task_queue' "
            "AND indexname <> 'task_queue_pkey'"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.monotonic()
        for first in range(1, rows + 1, CHUNK):
            last = min(rows, first + CHUNK - 1)
            cursor.execute(
                FILL,
                {
                    "definitions": definitions,
                    "queues": QUEUES,
                    "total": rows,
                    "first": first,
                    "last": last,
                },
            )
            log(f"  {last:,} rows ({time.monotonic() - started:.0f} s)")
        timings["insert_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        for _, definition in indexes:
            cursor.execute(definition)
        timings["indexes_s"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE task_queue")
        timings["vacuum_analyze_s"] = round(time.monotonic() - started, 1)
        cursor.execute("SELECT pg_total_relation_size('task_queue')")
        timings["table_and_indexes_gib"] = round(cursor.fetchone()[0] / 2**30, 2)
    return timings


def _timed(fetch: Callable[[], Any], runs: int) -> dict[str, float]:
    for _ in range(3):  # warm the caches and Django's lazy set-up, as a live site has
        fetch()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "max_ms": round(max(samples), 1),
    }


def pages() -> dict[str, str]:
    """Name -> URL of every page the target concerns, with the filters operators use most."""
    admin_items = "/admin/django_taskqueue/queueitem/"
    return {
        "admin items list": admin_items,
        "admin items, failed": admin_items + "?status__exact=failed",
        "admin items, one queue": admin_items + "?queue=emails",
        "admin items, one tenant": admin_items + "?tenant=tenant-3",
        "admin items, page 100": admin_items + "?p=100",
        "admin items, search by id": admin_items + "?q=4242",
        "admin items, one day": admin_items + "?created_at__year={day.year}"
        "&created_at__month={day.month}&created_at__day={day.day}",
        "admin item page": "/admin/django_taskqueue/queueitem/{item}/change/",
        "admin dashboard": "/admin/django_taskqueue/queuestate/",
        "admin dashboard, live figures": "/admin/django_taskqueue/queuestate/live/",
        "API jobs list": "/tasks/api/v1/jobs",
        "API jobs, failed": "/tasks/api/v1/jobs?status=failed",
        "API jobs, one queue": "/tasks/api/v1/jobs?queue=emails",
        "API jobs, tenant token": "/tasks/api/v1/jobs#tenant",
        "API queues": "/tasks/api/v1/queues",
        "/metrics": "/tasks/metrics",
    }


def page_timings(runs: int, log: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """p50/p95/max in ms of each page, every answer checked to be a 200."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from django_taskqueue.api.auth import mint_token
    from django_taskqueue.models import QueueItem

    user, _ = get_user_model().objects.get_or_create(
        username="bigtable", defaults={"is_staff": True, "is_superuser": True}
    )
    browser = Client()
    browser.force_login(user)
    api = Client(headers={"authorization": f"Bearer {mint_token(user)}"})
    tenant_api = Client(
        headers={"authorization": f"Bearer {mint_token(user, tenant='tenant-3')}"}
    )
    item = QueueItem.objects.filter(status="failed").order_by("-id").values_list("pk")[0][0]
    results = {}
    for name, url in pages().items():
        client = browser if url.startswith("/admin/") else api
        if url.endswith("#tenant"):
            client, url = tenant_api, url.removesuffix("#tenant")
        url = url.format(item=item, day=timezone.localdate() - datetime.timedelta(days=14))

        def fetch(client: Client = client, url: str = url) -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")

        results[name] = _timed(fetch, runs)
        log(f"  {name:34} {results[name]}")
    return results
