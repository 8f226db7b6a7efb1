"""The example's main job: migrate, enqueue a realistic batch, drain it, print the stats."""

from __future__ import annotations

import http.server
import logging
import os
import random
import sys
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from django_taskqueue import enqueue_by_alias, enqueue_many, queue_stats
from django_taskqueue.models import QueueItem
from django_taskqueue.runner import QueueRunner
from example_project.shop.models import Customer, Order

QUEUES = ["emails", "reports", "webhooks", "maintenance"]


class WebhookReceiver(http.server.BaseHTTPRequestHandler):
    """A local endpoint standing in for a partner's webhook: /ok answers 204, /broken 500."""

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204 if self.path == "/ok" else 500)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookServer(http.server.ThreadingHTTPServer):
    # The default backlog of 5 overflows when eight workers call at once, and the kernel then
    # retries the dropped connections a second later.
    request_queue_size = 64


class Command(BaseCommand):
    help = "Run the example shop's background work end to end and print per-queue stats."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=200)
        parser.add_argument("--concurrency", type=int, default=8)

    def handle(self, *args: Any, customers: int, concurrency: int, **options: Any) -> None:
        started = time.monotonic()
        if options["verbosity"] < 2:  # one line per item is the runner's log; -v 2 shows it
            logging.getLogger("django_taskqueue").setLevel(logging.WARNING)
        self.stdout.write(f"Database: {connection.vendor} ({connection.settings_dict['NAME']})")
        call_command("migrate", verbosity=0)
        server = WebhookServer(("127.0.0.1", 0), WebhookReceiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        hook = f"http://127.0.0.1:{server.server_address[1]}"

        previous = QueueItem.all_objects.order_by("-pk").values_list("pk", flat=True).first()
        enqueued = self._enqueue_demo_work(customers, hook)
        self.stdout.write(f"Enqueued {enqueued} items on queues {', '.join(QUEUES)}")

        # Burst runs drain what is ready; loop while retries wait out their backoff.
        while QueueItem.objects.filter(
            queue_name__in=QUEUES, status__in=[QueueItem.Status.QUEUED, QueueItem.Status.RUNNING]
        ).exists():
            QueueRunner(QUEUES, concurrency=concurrency, interval=0.2, burst=True).run()
            time.sleep(0.2)
        server.shutdown()

        self.stdout.write("\nPer-queue stats:")
        self._print_stats()
        failed = QueueItem.objects.filter(queue_name__in=QUEUES, status=QueueItem.Status.FAILED)
        for item in failed[:3]:
            last_line = item.last_error.strip().splitlines()[-1] if item.last_error else ""
            self.stdout.write(
                f"  failed as expected: #{item.pk} {item.definition.alias}: {last_line}"
            )
        outputs = QueueItem.objects.filter(
            pk__gt=previous or 0, queue_name="reports", status=QueueItem.Status.SUCCESS
        ).values_list("output", flat=True)
        for output in outputs:
            self.stdout.write(f"  report: {output['path']} ({output['rows']} rows)")
        self.stdout.write(
            f"  welcome emails: written as files under {settings.VAR_DIR / 'sent-emails'}"
        )
        self.stdout.write(f"\nDone in {time.monotonic() - started:.1f} s.")
        self.stdout.write(f"See it in the admin, on this same database:\n{self._admin_hint()}")

    @staticmethod
    def _admin_hint() -> str:
        """The exact commands, with this run's interpreter and DATABASE_URL: a bare
        ``python manage.py`` would miss the virtualenv or open another database."""
        python = (
            os.path.relpath(sys.executable)
            if sys.executable.startswith(os.getcwd())
            else sys.executable
        )
        prefix = (
            f"DATABASE_URL={os.environ['DATABASE_URL']} " if "DATABASE_URL" in os.environ else ""
        )
        return (
            f"  {prefix}{python} manage.py createsuperuser\n"
            f"  {prefix}{python} manage.py runserver\n"
            "  then open http://127.0.0.1:8000/admin/django_taskqueue/"
        )

    def _enqueue_demo_work(self, customers: int, hook: str) -> int:
        stamp = int(time.time() * 1000)
        people = Customer.objects.bulk_create(
            Customer(name=f"Customer {i}", email=f"customer{i}.{stamp}@example.com")
            for i in range(customers)
        )
        old = timezone.now() - timedelta(days=200)
        Order.objects.bulk_create(
            Order(
                customer=random.choice(people),
                total_cents=random.randint(500, 50_000),
                status=random.choice([Order.Status.PAID] * 4 + [Order.Status.ABANDONED]),
                created_at=random.choice([timezone.now(), old]),
            )
            for _ in range(customers * 5)
        )
        count = len(enqueue_many("SendWelcomeEmail", [{"customer_id": c.pk} for c in people]))
        for days in (1, 7, 30):
            enqueue_by_alias("ExportOrdersReport", {"days": days}, priority=5)
        count += 3
        for n in range(customers // 4):
            enqueue_by_alias(
                "CallWebhook", {"url": f"{hook}/ok", "event": "order.paid", "payload": {"order": n}}
            )
        count += customers // 4
        # Two deliveries to a failing endpoint: retried with backoff, then marked failed.
        for n in range(2):
            enqueue_by_alias(
                "CallWebhook",
                {"url": f"{hook}/broken", "event": "order.refunded", "payload": {"order": n}},
            )
        enqueue_by_alias("CleanupOldData", {"days": 90}, priority=-1)
        return count + 3

    def _print_stats(self) -> None:
        stats = queue_stats()
        statuses = list(QueueItem.Status.values)
        self.stdout.write(f"  {'queue':<12}" + "".join(f"{s:>10}" for s in statuses))
        for queue, counts in stats.items():
            self.stdout.write(f"  {queue:<12}" + "".join(f"{counts[s]:>10}" for s in statuses))
