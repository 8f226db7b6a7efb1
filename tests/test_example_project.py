"""The example shop: its sign-up view enqueues in the request's transaction; its demo drains."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from django_taskqueue.models import QueueItem
from example_project.shop.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_signup_creates_the_customer_and_its_welcome_email_item(client):
    response = client.post("/", {"name": "Ada", "email": "ada@example.com"}, follow=True)
    assert response.status_code == 200 and b"Welcome, Ada!" in response.content
    customer = Customer.objects.get(email="ada@example.com")
    item = QueueItem.objects.get()
    assert (item.definition.alias, item.queue_name) == ("SendWelcomeEmail", "emails")
    assert item.parameters == {"customer_id": customer.pk}


def test_invalid_signup_enqueues_nothing(client):
    response = client.post("/", {"name": "", "email": "not-an-email"})
    assert response.status_code == 200
    assert not QueueItem.objects.exists() and not Customer.objects.exists()


def test_the_demo_drains_everything_it_enqueues():
    out = StringIO()
    call_command("shopdemo", customers=8, concurrency=4, stdout=out)
    text = out.getvalue()
    assert not QueueItem.objects.filter(status__in=["queued", "running"]).exists()
    counts = {
        alias: QueueItem.objects.filter(definition__alias=alias, status="success").count()
        for alias in ("SendWelcomeEmail", "ExportOrdersReport", "CallWebhook", "CleanupOldData")
    }
    assert counts == {
        "SendWelcomeEmail": 8,
        "ExportOrdersReport": 3,
        "CallWebhook": 2,
        "CleanupOldData": 1,
    }
    assert QueueItem.objects.filter(status="failed").count() == 2  # the broken endpoint
    assert len(mail.outbox) == 8
    assert "Per-queue stats:" in text and "report:" in text
