"""The example shop: its sign-up view enqueues in the request's transaction; its demo drains."""

import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem
from example_project.shop.models import Customer
from tests.conftest import ROOT

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


def quickstart_sample(after: str) -> list[str]:
    """The lines of the first ``text`` block after the line containing ``after``."""
    page = (ROOT / "docs" / "quickstart.md").read_text(encoding="utf-8")
    block = page[page.index(after) :].split("```text\n", 1)[1].split("```", 1)[0]
    return block.strip().splitlines()


# The parts of a log line that differ from run to run, and what stands in for each.
VARIABLE = {
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}",  # time
    r"(?<=Runner )\S+:\d+": r"\S+:\d+",  # host:pid
    r"(?<=#)\d+": r"\d+",  # item id
    r"\d+\.\d(?= ms)": r"\d+\.\d",  # duration
}
VARIABLE_PART = re.compile("|".join(f"({part})" for part in VARIABLE))


def as_pattern(sample: str) -> re.Pattern[str]:
    """A sample line with its variable parts (time, host:pid, ids, durations) left open."""
    replacements = list(VARIABLE.values())
    pattern, end = "", 0
    for match in VARIABLE_PART.finditer(sample):
        pattern += re.escape(sample[end : match.start()]) + replacements[match.lastindex - 1]
        end = match.end()
    return re.compile(pattern + re.escape(sample[end:]))


def test_the_quickstarts_sample_log_lines_are_what_a_runner_prints(start_runner):
    customer = Customer.objects.create(name="Ada", email="ada@example.com")
    enqueue_by_alias("SendWelcomeEmail", {"customer_id": customer.pk})
    # The example's own settings: its handlers only, as in the quickstart.
    env = {"DJANGO_SETTINGS_MODULE": "example_project.settings"}
    runner = start_runner("emails", "reports", "-v", "1", "--burst", env=env)
    assert runner.wait() == 0
    printed = runner.output().splitlines()
    samples = quickstart_sample("python manage.py runqueue emails reports -v 1")
    assert len(samples) == 3
    lines = iter(printed)
    for sample in samples:  # each one, in this order, among what the runner printed
        pattern = as_pattern(sample)
        assert any(pattern.fullmatch(line) for line in lines), (sample, printed)
