"""The shop's background work. Each handler takes its parameters as keyword arguments."""

from __future__ import annotations

import csv
import json
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from django_taskqueue import current_task, handler

from .models import Customer, Order


@handler("SendWelcomeEmail", queue_name="emails", max_attempts=5, title="Send the welcome email")
def send_welcome_email(customer_id: int) -> dict[str, str]:
    """Greets a new customer; retried on SMTP hiccups."""
    customer = Customer.objects.get(pk=customer_id)
    send_mail(
        subject="Welcome to the shop",
        message=f"Hello {customer.name}, thanks for signing up!",
        from_email=None,
        recipient_list=[customer.email],
    )
    return {"sent_to": customer.email}


@handler(
    "ExportOrdersReport", queue_name="reports", timeout_seconds=300, title="Export orders as CSV"
)
def export_orders_report(days: int = 1) -> dict[str, object]:
    """Writes the paid orders of the last ``days`` days to a CSV file under var/reports."""
    since = timezone.now() - timedelta(days=days)
    orders = Order.objects.filter(status=Order.Status.PAID, created_at__gte=since).select_related(
        "customer"
    )
    folder = settings.VAR_DIR / "reports"
    folder.mkdir(exist_ok=True)
    path = folder / f"orders-{timezone.now():%Y%m%d-%H%M%S-%f}.csv"
    rows = 0
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["order", "customer", "total", "created"])
        for order in orders.iterator():
            writer.writerow(
                [order.pk, order.customer.email, order.total_cents / 100, order.created_at]
            )
            rows += 1
    task = current_task()
    if task:
        task.log(f"wrote {rows} rows to {path.name}")
    return {"path": str(path), "rows": rows}


@handler(
    "CallWebhook",
    queue_name="webhooks",
    max_attempts=3,
    retry_backoff_seconds=0.5,
    timeout_seconds=30,
    title="POST an event to a webhook",
)
def call_webhook(url: str, event: str, payload: dict | None = None) -> dict[str, object]:
    """Delivers an event; a non-2xx answer raises, so the item is retried with backoff."""
    body = json.dumps({"event": event, "payload": payload or {}}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {"status": response.status}


@handler("CleanupOldData", queue_name="maintenance", title="Delete abandoned orders")
def cleanup_old_data(days: int = 90) -> dict[str, int]:
    """Removes abandoned orders older than ``days`` days."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Order.objects.filter(status=Order.Status.ABANDONED, created_at__lt=cutoff).delete()
    return {"deleted": deleted}
