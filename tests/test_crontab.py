"""Periodic work through django-crontab: the example ``CRONJOBS`` run as cron would run them.

cron runs ``manage.py crontab run HASH``; these tests do the same in a child process against
the test database and check what the job did.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_crontab.crontab import Crontab

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Runner
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def job_hash(callable_path: str) -> str:
    """The hash django-crontab writes into the crontab line for the job calling ``path``."""
    (job,) = [job for job in settings.CRONJOBS if job[1] == callable_path]
    return Crontab()._Crontab__hash_job(job)


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    child = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return child


def test_nightly_report_job_enqueues_the_report(runner_env):
    manage(
        runner_env, "crontab", "run", job_hash("example_project.shop.jobs.enqueue_nightly_report")
    )
    (item,) = QueueItem.objects.all()
    assert item.definition.alias == "ExportOrdersReport"
    assert (item.parameters, item.status) == ({"days": 1}, "queued")


def test_prune_job_deletes_only_items_finished_before_the_retention_period(runner_env):
    old, recent, waiting = (enqueue_by_alias("Noop") for _ in range(3))
    for item, days_ago in ((old, 31), (recent, 29)):
        QueueItem.objects.filter(pk=item.pk).update(
            status="success", completed_at=timezone.now() - timedelta(days=days_ago)
        )
    manage(
        runner_env, "crontab", "run", job_hash("django_taskqueue.maintenance.prune_finished_items")
    )
    assert set(QueueItem.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}


def test_recover_job_requeues_items_of_dead_runners(runner_env):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    dead = Runner.objects.create(
        id="dead", hostname="gone", pid=1, concurrency=1, heartbeat_at=an_hour_ago
    )
    stuck = enqueue_by_alias("SlowRecord")
    QueueItem.objects.filter(pk=stuck.pk).update(
        status="running", runner=dead, attempts=1, started_at=an_hour_ago
    )
    manage(
        runner_env, "crontab", "run", job_hash("django_taskqueue.maintenance.recover_stuck_items")
    )
    stuck.refresh_from_db()
    assert (stuck.status, stuck.runner_id) == ("queued", None)
    assert stuck.attempt_log.get().outcome == "lost"


@pytest.fixture
def crontab_lock() -> Iterator[None]:
    """``add``/``remove`` edit the machine's one crontab: one test process at a time."""
    with (Path(tempfile.gettempdir()) / "django-taskqueue-crontab-test.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def test_add_installs_every_job_and_the_installed_line_runs_it(runner_env, crontab_lock):
    try:
        manage(runner_env, "crontab", "add")
        shown = manage(runner_env, "crontab", "show").stdout
        installed = dict(re.findall(r"^(\w{32}) -> \('[^']*', '([^']+)'", shown, re.M))
        assert sorted(installed.values()) == sorted(job[1] for job in settings.CRONJOBS)
        crontab_lines = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
        for job_hash_installed in installed:
            assert f"manage.py crontab run {job_hash_installed}" in crontab_lines
        report_hash = {path: h for h, path in installed.items()}[
            "example_project.shop.jobs.enqueue_nightly_report"
        ]
        manage(runner_env, "crontab", "run", report_hash)
        assert QueueItem.objects.get().definition.alias == "ExportOrdersReport"
    finally:
        manage(runner_env, "crontab", "remove")
    assert (
        "crontab run"
        not in subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    )
