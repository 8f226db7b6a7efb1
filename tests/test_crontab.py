"""Periodic work through django-crontab: the example ``CRONJOBS`` run as cron would run them.

cron runs ``manage.py crontab run HASH``; these tests do the same in a child process against
the test database and check what the job did.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from django_crontab.crontab import Crontab

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Runner
from tests.conftest import ROOT, database_url

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


def crontab_l() -> str | None:
    """The user's crontab, or None when there is none."""
    listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    return listed.stdout if listed.returncode == 0 else None


def install_crontab(text: str | None) -> None:
    command = ["crontab", "-"] if text is not None else ["crontab", "-r"]
    subprocess.run(command, input=text, text=True, capture_output=True, check=text is not None)


@pytest.fixture
def user_crontab() -> Iterator[None]:
    """``add`` edits the machine's one crontab: one test process at a time, and whatever the
    user had is put back afterwards."""
    with (Path(tempfile.gettempdir()) / "django-taskqueue-crontab-test.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = crontab_l()
        try:
            yield
        finally:
            install_crontab(saved)


ENVIRONMENT_LINE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$")


def as_cron_runs(crontab: str, line: str) -> subprocess.CompletedProcess[str]:
    """Run a crontab line's command as cron does: ``/bin/sh -c`` in the home directory, with
    cron's own variables and the crontab's environment lines above it, nothing else."""
    user = pwd.getpwuid(os.getuid())
    env = {
        "SHELL": "/bin/sh",
        "HOME": user.pw_dir,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/bin:/bin",
    }
    for above in crontab[: crontab.index(line)].splitlines():
        if match := ENVIRONMENT_LINE.match(above):
            env[match[1]] = match[2]
    command = Crontab().settings.CRONTAB_LINE_REGEXP.match(line)[3]
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=user.pw_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_with_the_environment_in_the_crontab_show_prints_the_hashes_cron_runs(
    runner_env, user_crontab
):
    """What docs/periodic.md advises: the settings module and DATABASE_URL as environment
    lines of the crontab, no CRONTAB_COMMAND_PREFIX."""
    environment = f"DJANGO_SETTINGS_MODULE=tests.settings\nDATABASE_URL={database_url()}\n"
    install_crontab(environment)
    manage(runner_env, "crontab", "add")

    shown = manage(runner_env, "crontab", "show").stdout
    shown_jobs = dict(re.findall(r"^(\S+) -> \('[^']*', '([^']+)'", shown, re.M))
    assert shown_jobs == {job_hash(job[1]): job[1] for job in settings.CRONJOBS}
    crontab = crontab_l() or ""
    installed = [line for line in crontab.splitlines(keepends=True) if "crontab run" in line]
    assert {re.search(r"crontab run (\S+)", line)[1] for line in installed} == set(shown_jobs)
    for line in installed:
        ran = as_cron_runs(crontab, line)
        assert (ran.returncode, ran.stderr) == (0, ""), line
    assert QueueItem.objects.get().definition.alias == "ExportOrdersReport"

    manage(runner_env, "crontab", "remove")
    assert crontab_l() == environment


@override_settings(CRONTAB_COMMAND_PREFIX="DATABASE_URL=sqlite:///site.sqlite3")
def test_a_command_prefix_makes_show_print_a_word_of_the_command_as_the_hash(capsys):
    """Why docs/periodic.md advises against CRONTAB_COMMAND_PREFIX (django-crontab 0.7.1): show
    prints the fifth word of each command, which a prefix moves off the hash."""
    crontab = Crontab(verbosity=1)
    crontab.add_jobs()
    capsys.readouterr()
    crontab.show_jobs()
    shown = capsys.readouterr().out.splitlines()[1:]
    assert [line.split(" -> ")[0] for line in shown] == ["run"] * len(settings.CRONJOBS)
