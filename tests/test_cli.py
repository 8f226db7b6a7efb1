"""``manage.py taskqueue``: every subcommand in-process, the error paths also as a real process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_taskqueue import enqueue_by_alias
from django_taskqueue.models import QueueItem, Runner, TaskDefinition
from tests.conftest import ROOT, taskqueue_process


def taskqueue(*args: str) -> str:
    out = io.StringIO()
    call_command("taskqueue", *args, stdout=out)
    return out.getvalue()


def finish(item: QueueItem, status: str, days_ago: float = 0) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    QueueItem.objects.filter(pk=item.pk).update(status=status, completed_at=when)


# --------------------------------------------------------------------------- in-process


NOTHING_MATCHES = {
    "status": ["--status", "running"],
    "queue": ["--queue", "nowhere"],
    "alias": ["--alias", "Nope"],
    "known-alias": ["--alias", "Noop"],
    "all": ["--status", "failed", "--queue", "tests", "--alias", "Record"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("subcommand", ["list", "requeue", "cancel"])
@pytest.mark.parametrize("case", sorted(NOTHING_MATCHES))
def test_nothing_matched_is_the_same_answer_whatever_the_filter(subcommand, case):
    """Exit status 0 and "No matching items" for every filter, with a hint for names that
    exist nowhere (a typo), and nothing changed."""
    enqueue_by_alias("Record")
    output = taskqueue(subcommand, *NOTHING_MATCHES[case])
    assert output.startswith("No matching items")
    if case == "alias":
        assert "no task definition has the alias 'Nope'" in output
    if case == "queue":
        assert "no item was ever on queue 'nowhere'" in output
    if subcommand != "list":
        assert output.rstrip().endswith("Nothing was changed.")
    assert QueueItem.objects.get().status == "queued"


@pytest.mark.django_db(transaction=True)
def test_nothing_matched_exits_zero_as_a_real_process(runner_env):
    codes = {
        case: subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "taskqueue", "list", *args],
            cwd=ROOT,
            env=runner_env,
            capture_output=True,
            text=True,
            timeout=60,
        ).returncode
        for case, args in NOTHING_MATCHES.items()
    }
    assert set(codes.values()) == {0}, codes


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", ["--queue", "--queue-name"])
def test_both_queue_spellings_work_in_the_cli(spelling):
    item = QueueItem.objects.get(pk=int(taskqueue("enqueue", "Noop", spelling, "emails")))
    assert item.queue_name == "emails"
    assert taskqueue("list", spelling, "emails").splitlines()[1].split()[0] == str(item.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("delay", "seconds"), [("90", 90), ("90s", 90), ("1.5m", 90), ("500ms", 0.5), ("1d", 86400)]
)
def test_enqueue_delay_takes_units(delay, seconds):
    before = timezone.now()
    item = QueueItem.objects.get(pk=int(taskqueue("enqueue", "Noop", "--delay", delay)))
    waited = (item.run_at - before).total_seconds()
    assert seconds <= waited <= seconds + 5


@pytest.mark.django_db
class TestEnqueue:
    def test_prints_the_new_id_and_stores_what_was_asked(self):
        before = timezone.now()
        output = taskqueue(
            "enqueue",
            "Record",
            "--params",
            '{"value": [1, "two"]}',
            "--queue",
            "emails",
            "--priority",
            "7",
            "--delay",
            "10m",
        )
        item = QueueItem.objects.get(pk=int(output))
        assert item.definition.alias == "Record"
        assert item.parameters == {"value": [1, "two"]}
        assert (item.queue_name, item.priority) == ("emails", 7)
        assert (
            before + timedelta(minutes=10) <= item.run_at <= timezone.now() + timedelta(minutes=10)
        )

    def test_defaults_come_from_the_definition(self):
        item = QueueItem.objects.get(pk=int(taskqueue("enqueue", "Noop")))
        assert (item.queue_name, item.parameters, item.status) == ("tests", {}, "queued")

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--params", "{not json"], "not valid JSON"),
            (["--params", "[1, 2]"], "must be a JSON object"),
            (["--queue", "bad queue"], "Invalid queue name"),
            (["--delay", "10 minutes"], "not a duration"),
            (["--delay=-5s"], "not a duration"),
            (["--priority", "high"], "invalid int value"),
        ],
    )
    def test_bad_arguments_are_refused_before_anything_is_written(self, args, message):
        with pytest.raises(CommandError, match=message):
            taskqueue("enqueue", "Record", *args)
        assert not QueueItem.objects.exists()

    def test_unknown_alias_lists_the_known_ones(self):
        with pytest.raises(CommandError, match="Unknown task alias 'Nope'.*Record"):
            taskqueue("enqueue", "Nope")

    def test_inactive_definition(self):
        enqueue_by_alias("Noop")
        TaskDefinition.objects.filter(alias="Noop").update(is_active=False)
        with pytest.raises(CommandError, match="inactive"):
            taskqueue("enqueue", "Noop")


@pytest.mark.django_db
def test_stats_prints_one_row_per_queue_with_every_status():
    assert taskqueue("stats").strip() == "No queue items."
    for _ in range(3):
        enqueue_by_alias("Noop")
    finish(enqueue_by_alias("Noop", queue_name="emails"), "failed")
    lines = taskqueue("stats").splitlines()
    assert lines[0].split() == [
        "QUEUE", "WAITING", "QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELED", "PAUSED", "TOTAL"
    ]  # fmt: skip
    assert lines[1].split() == ["emails", "0", "0", "0", "0", "1", "0", "0", "1"]
    assert lines[2].split() == ["tests", "0", "3", "0", "0", "0", "0", "0", "3"]
    only = taskqueue("stats", "--queue", "emails").splitlines()
    assert [line.split()[0] for line in only] == ["QUEUE", "emails"]


@pytest.mark.django_db
class TestList:
    def test_filters_by_status_queue_and_alias_newest_first(self):
        failed = [enqueue_by_alias("Record", queue_name="emails") for _ in range(3)]
        for item in failed:
            finish(item, "failed")
        QueueItem.objects.filter(pk=failed[0].pk).update(last_error="Traceback...\nKeyError: 'x'")
        enqueue_by_alias("Record", queue_name="emails")  # queued, not listed
        finish(enqueue_by_alias("Noop", queue_name="emails"), "failed")  # other alias
        output = taskqueue("list", "--status", "failed", "--queue", "emails", "--alias", "Record")
        lines = output.splitlines()
        assert lines[0].split()[:4] == ["ID", "ALIAS", "QUEUE", "STATUS"]
        assert [int(line.split()[0]) for line in lines[1:]] == [i.pk for i in reversed(failed)]
        assert lines[-1].endswith("KeyError: 'x'")
        limited = taskqueue("list", "--status", "failed", "--limit", "2").splitlines()
        assert len(limited) == 3

    def test_nothing_matching_says_so(self):
        assert taskqueue("list", "--status", "running").strip() == "No matching items."

    def test_an_unknown_status_is_an_error(self):
        with pytest.raises(CommandError, match="invalid choice: 'broken'"):
            taskqueue("list", "--status", "broken")

    def test_errors_are_cut_at_a_word_boundary(self):
        item = enqueue_by_alias("Record")
        words = " ".join(f"word{n}" for n in range(40))
        finish(item, "failed")
        QueueItem.objects.filter(pk=item.pk).update(last_error=f"Traceback...\nValueError: {words}")
        error = taskqueue("list").splitlines()[-1].split("  ")[-1]
        assert error.endswith("…") and len(error) <= 80
        assert error[:-1].split()[-1] in words.split()  # a whole word before the cut


@pytest.mark.django_db
class TestRequeueAndCancel:
    def test_requeue_by_id_reports_changed_and_skipped(self):
        failed = enqueue_by_alias("Record")
        finish(failed, "failed")
        waiting = enqueue_by_alias("Record")
        output = taskqueue("requeue", str(failed.pk), str(waiting.pk))
        assert output.startswith("requeue: 1 item(s) changed, 1 skipped")
        assert f"#{waiting.pk}: Cannot requeue item #{waiting.pk}: it is queued." in output
        failed.refresh_from_db()
        assert failed.status == "queued"

    def test_cancel_by_filter_touches_only_matching_items(self):
        emails = [enqueue_by_alias("Noop", queue_name="emails") for _ in range(2)]
        other = enqueue_by_alias("Noop", queue_name="other")
        output = taskqueue("cancel", "--queue", "emails", "--status", "queued")
        assert output.strip() == "cancel: 2 item(s) changed"
        statuses = dict(QueueItem.objects.values_list("pk", "status"))
        assert [statuses[i.pk] for i in emails] == ["canceled", "canceled"]
        assert statuses[other.pk] == "queued"

    def test_requeue_by_alias(self):
        for alias in ("Record", "Noop"):
            finish(enqueue_by_alias(alias), "failed")
        assert taskqueue("requeue", "--alias", "Noop").strip() == "requeue: 1 item(s) changed"
        assert QueueItem.objects.get(status="failed").definition.alias == "Record"

    def test_missing_ids_change_nothing(self):
        item = enqueue_by_alias("Noop")
        with pytest.raises(CommandError, match="No queue item with id 999999; nothing"):
            taskqueue("cancel", str(item.pk), "999999")
        item.refresh_from_db()
        assert item.status == "queued"

    def test_ids_or_filters_are_required_and_exclusive(self):
        item = enqueue_by_alias("Noop")
        with pytest.raises(CommandError, match="Give item ids, or filters"):
            taskqueue("cancel")
        with pytest.raises(CommandError, match="not both"):
            taskqueue("cancel", str(item.pk), "--status", "queued")
        with pytest.raises(CommandError, match="An item id must be a whole number"):
            taskqueue("requeue", "abc")


@pytest.mark.django_db
class TestPurge:
    def test_deletes_items_finished_before_the_cutoff(self):
        old = enqueue_by_alias("Noop")
        finish(old, "success", days_ago=31)
        recent = enqueue_by_alias("Noop")
        finish(recent, "failed", days_ago=29)
        old_but_queued = enqueue_by_alias("Noop")
        QueueItem.objects.filter(pk=old_but_queued.pk).update(
            created_at=timezone.now() - timedelta(days=60)
        )
        assert taskqueue("purge", "--older-than", "30d").strip() == (
            "Deleted 1 finished item(s) (1 success, 0 failed, 0 canceled)."
        )
        assert set(QueueItem.objects.values_list("pk", flat=True)) == {
            recent.pk,
            old_but_queued.pk,
        }

    @pytest.mark.parametrize(("age", "kept"), [("12h", False), ("90m", False), ("2d", True)])
    def test_accepts_hours_and_minutes(self, age, kept):
        item = enqueue_by_alias("Noop")
        finish(item, "success", days_ago=1)
        taskqueue("purge", "--older-than", age)
        assert QueueItem.objects.filter(pk=item.pk).exists() is kept

    def test_default_is_the_retention_setting(self):
        item = enqueue_by_alias("Noop")
        finish(item, "success", days_ago=29)  # RETENTION_DAYS is 30
        assert taskqueue("purge").strip() == (
            "Deleted 0 finished item(s) (0 success, 0 failed, 0 canceled)."
        )

    @pytest.mark.parametrize("age", ["30", "30x", "d", "1.d"])
    def test_bad_durations(self, age):
        with pytest.raises(CommandError, match="not a duration"):
            taskqueue("purge", "--older-than", age)


@pytest.mark.django_db
class TestSync:
    def test_creates_missing_rows_and_refreshes_only_the_handler_path(self):
        enqueue_by_alias("Record")
        TaskDefinition.objects.filter(alias="Record").update(
            handler="old.module.record", queue_name="edited", max_attempts=9
        )
        TaskDefinition.objects.create(alias="Retired", handler="gone.handler")
        output = taskqueue("sync")
        record = TaskDefinition.objects.get(alias="Record")
        assert record.handler == "tests.taskapp.tasks.record"
        assert (record.queue_name, record.max_attempts) == ("edited", 9)  # operator edits win
        assert TaskDefinition.objects.get(alias="FlakyUntil").max_attempts == 4
        assert "updated: Record" in output
        assert "no registered handler: Retired" in output
        assert "Noop" in output.split("created: ")[1]
        assert taskqueue("sync").startswith("0 created, 0 updated")

    def test_reset_reapplies_decorator_defaults_but_not_operator_switches(self):
        enqueue_by_alias("Record")
        TaskDefinition.objects.filter(alias="Record").update(
            queue_name="edited", max_attempts=9, is_active=False
        )
        assert "updated: Record" in taskqueue("sync", "--reset")
        record = TaskDefinition.objects.get(alias="Record")
        assert (record.queue_name, record.max_attempts, record.is_active) == ("tests", 1, False)

    def test_soft_deleted_definitions_stay_deleted(self):
        enqueue_by_alias("Noop")
        TaskDefinition.objects.get(alias="Noop").soft_delete()
        assert "deleted, left alone: Noop" in taskqueue("sync", "--reset")
        assert not TaskDefinition.objects.filter(alias="Noop").exists()


@pytest.mark.django_db
def test_recover_requeues_items_of_a_dead_runner():
    dead = Runner.objects.create(
        id="dead", hostname="gone", pid=1, concurrency=1,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    stuck = enqueue_by_alias("SlowRecord")
    QueueItem.objects.filter(pk=stuck.pk).update(
        status="running", runner=dead, attempts=1, started_at=timezone.now() - timedelta(hours=1)
    )
    output = taskqueue("recover", "--unstuck-minutes", "5")
    assert output.strip() == "Recovered stuck items: 1 requeued, 0 failed."
    stuck.refresh_from_db()
    assert (stuck.status, stuck.runner_id) == ("queued", None)
    (lost,) = stuck.attempt_log.all()
    assert (lost.outcome, lost.queue_name, lost.definition_id, lost.enqueued_at) == (
        "lost",
        stuck.queue_name,
        stuck.definition_id,
        stuck.created_at,
    )
    assert taskqueue("recover").strip() == "Recovered stuck items: 0 requeued, 0 failed."


def test_a_subcommand_is_required():
    with pytest.raises(CommandError, match="required: SUBCOMMAND"):
        taskqueue()


# --------------------------------------------------------------------------- real processes


@pytest.mark.django_db(transaction=True)
def test_enqueue_in_a_real_process_prints_an_id_scripts_can_use(runner_env):
    child = taskqueue_process(runner_env, "enqueue", "Record", "--params", json.dumps({"value": 1}))
    assert child.returncode == 0, child.stderr
    assert QueueItem.objects.get(pk=int(child.stdout)).parameters == {"value": 1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enqueue", "Record", "--params", "{oops"], "--params: The parameters are not valid JSON"),
        (["enqueue", "Nope"], "Unknown task alias 'Nope'"),
        (["list", "--status", "broken"], "invalid choice: 'broken'"),
        (["purge", "--older-than", "30 days"], "'30 days' is not a duration"),
        (["requeue"], "Give item ids, or filters"),
        (["cancel", "424242"], "No queue item with id 424242"),
    ],
)
def test_errors_in_a_real_process_exit_non_zero_with_a_message_and_no_traceback(
    runner_env, args, message
):
    child = taskqueue_process(runner_env, *args)
    assert child.returncode != 0
    assert message in child.stderr
    assert "Traceback" not in child.stderr
    assert child.stdout == ""
