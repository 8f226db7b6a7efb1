"""What a runner says when its work does not add up: at start-up and after a burst."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.actions import set_queue_paused
from django_taskqueue.models import Runner, TaskDefinition
from django_taskqueue.runner import QueueRunner
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def run_burst(caplog, *queues: str) -> list[str]:
    with caplog.at_level(logging.INFO, logger="django_taskqueue"):
        QueueRunner(list(queues), burst=True, interval=0.05).run()
    return [r.getMessage() for r in caplog.records if r.name == "django_taskqueue.runner"]


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_queue_nothing_sends_work_to_is_named_at_start_up(caplog):
    run_burst(caplog, "tests", "emials")
    (typo,) = [m for m in warnings_of(caplog) if "has no task definition or handler" in m]
    assert typo.startswith("Queue 'emials' has no task definition or handler")
    assert not any("Queue 'tests'" in m for m in warnings_of(caplog))


def test_a_definition_without_a_handler_here_is_named(caplog):
    TaskDefinition.objects.create(alias="Ghost", handler="gone.module.ghost", queue_name="tests")
    run_burst(caplog, "tests")
    assert any(
        m.startswith("Queue 'tests' has definition(s) with no handler in this process: Ghost")
        for m in warnings_of(caplog)
    )


def test_handlers_whose_queue_no_live_runner_serves_are_named(caplog):
    Runner.objects.create(id="other", hostname="elsewhere", pid=1, queues=["poison"], concurrency=1)
    Runner.objects.create(  # stopped: it serves nobody
        id="gone",
        hostname="elsewhere",
        pid=2,
        queues=["faults"],
        concurrency=1,
        stopped_at=timezone.now(),
    )
    run_burst(caplog, "tests")
    (unserved,) = [m for m in warnings_of(caplog) if m.startswith("No live runner serves")]
    assert "Drain (queue 'faults')" in unserved  # served only by a stopped runner
    assert "'poison'" not in unserved  # the live runner elsewhere serves it
    assert "'tests'" not in unserved  # this runner serves it


def test_a_burst_says_what_it_ran_and_what_it_left(caplog):
    enqueue_by_alias("Record", {"value": 1})
    enqueue_by_alias("AlwaysFails", {})
    # Its retry waits a minute, so it is still waiting when the burst reports (with the
    # handler's 0.1 s it could be due again by then, and not "left for later").
    TaskDefinition.objects.filter(alias="AlwaysFails").update(retry_backoff_seconds=60)
    enqueue_by_alias("Record", {"value": 2}, delay=3600)
    messages = run_burst(caplog, "tests")
    assert messages[-1] == (
        "Burst finished on queue(s) tests: ran 2 attempt(s) (1 retry, 1 success); "
        "left for later: 2 on 'tests'"
    )


def test_a_burst_on_an_empty_or_unknown_queue_says_nothing_was_due(caplog):
    messages = run_burst(caplog, "nowhere")
    assert messages[-1] == "Burst finished on queue(s) nowhere: ran 0 attempt(s), nothing was due"


def test_a_burst_on_a_paused_queue_says_it_is_paused(caplog):
    enqueue_by_alias("Record", {"value": 1})
    set_queue_paused("tests", True)
    messages = run_burst(caplog, "tests")
    assert messages[-1].endswith("nothing was due; paused, not claimed from: 'tests'")


def test_runqueue_refuses_a_database_without_the_queues_tables(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }
    child = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "runqueue", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 1
    assert "lacks django_taskqueue's tables" in child.stderr
    assert "python manage.py migrate" in child.stderr
    assert "Traceback" not in child.stderr and "Database unavailable" not in child.stderr
