"""The command line for workflows and dependencies: ``taskqueue workflows``, ``taskqueue workflow
ID``, and ``taskqueue enqueue --depends-on / --on-parent-failure / --webhook-url``; in-process
and as a real process."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_taskqueue import chain, enqueue_by_alias, enqueue_workflow, group
from django_taskqueue.models import ItemDependency, QueueItem, Workflow
from tests.conftest import taskqueue_process

pytestmark = pytest.mark.django_db(transaction=True)


def taskqueue(*args: str) -> str:
    out = StringIO()
    call_command("taskqueue", *args, stdout=out)
    return out.getvalue()


def step(name: str) -> tuple[str, dict[str, str]]:
    return ("Step", {"name": name})


def rows(output: str) -> list[list[str]]:
    """The table's rows under its header line, split into cells."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("ID "))
    return [line.split("  ") for line in lines[header + 1 :] if not line.startswith("(")]


def cells(row: list[str]) -> list[str]:
    return [cell.strip() for cell in row if cell.strip()]


# --------------------------------------------------------------------------- workflows


def test_workflows_lists_newest_first_with_name_status_and_counts():
    first = enqueue_workflow(chain(step("a"), step("b"), step("c")), name="order 7")
    second = enqueue_workflow(step("alone"))
    second.cancel()
    listing = taskqueue("workflows")
    assert listing.splitlines()[0].split() == ["ID", "NAME", "STATUS", "STEPS", "CREATED"]
    newest, oldest = (cells(row) for row in rows(listing))
    assert newest[:4] == [str(second.pk), "-", "canceled", "1 canceled"]
    assert oldest[:4] == [str(first.pk), "order 7", "running", "2 waiting, 1 queued"]
    assert oldest[4] == first.created_at.isoformat(timespec="seconds")


def test_workflows_filters_by_status_and_says_when_none_match():
    running = enqueue_workflow(step("a"))
    assert [cells(row)[0] for row in rows(taskqueue("workflows", "--status", "running"))] == [
        str(running.pk)
    ]
    assert taskqueue("workflows", "--status", "failed").strip() == "No failed workflows."
    Workflow.objects.all().delete()
    assert taskqueue("workflows").strip() == "No workflows."


def test_workflows_limit_and_a_bad_status():
    for _ in range(3):
        enqueue_workflow(step("a"))
    assert len(rows(taskqueue("workflows", "--limit", "2"))) == 2
    with pytest.raises(CommandError, match="invalid choice: 'queued'"):
        taskqueue("workflows", "--status", "queued")
    with pytest.raises(CommandError, match="--limit"):
        taskqueue("workflows", "--limit", "0")


def test_workflow_shows_its_fields_and_every_step_with_its_parents():
    workflow = enqueue_workflow(
        chain(step("fetch"), group(step("a"), step("b"), then=step("join"))), name="fan-in"
    )
    fetch, a, b, join = workflow.items.order_by("id")
    shown = taskqueue("workflow", str(workflow.pk))
    head = shown.splitlines()[:3]
    assert head[0] == f"workflow #{workflow.pk} fan-in: running"
    assert head[1].startswith("  created: ") and head[1].endswith("completed: -")
    assert head[2] == "  steps: 4 (3 waiting, 1 queued)"
    assert [cells(row) for row in rows(shown)] == [
        [str(fetch.pk), "Step", "queued", "-"],
        [str(a.pk), "Step", "waiting", f"#{fetch.pk}"],
        [str(b.pk), "Step", "waiting", f"#{fetch.pk}"],
        [str(join.pk), "Step", "waiting", f"#{a.pk}, #{b.pk}"],
    ]


def test_workflow_limit_says_how_many_steps_are_left_out():
    workflow = enqueue_workflow(chain(*(step(str(n)) for n in range(5))))
    shown = taskqueue("workflow", str(workflow.pk), "--limit", "2")
    assert len(rows(shown)) == 2
    assert shown.rstrip().endswith("(the first 2 of 5 steps; --limit 5 shows them all)")


@pytest.mark.parametrize(
    ("workflow_id", "message"),
    [("424242", "No workflow #424242."), ("0", "A workflow id 0 is out of range"), ("x", "'x'")],
)
def test_an_unknown_or_bad_workflow_id_is_a_command_error(workflow_id, message):
    with pytest.raises(CommandError, match=message):
        taskqueue("workflow", workflow_id)


# --------------------------------------------------------------------------- enqueue


def test_enqueue_depends_on_repeated_or_as_a_comma_list_keeps_the_order():
    a, b, c = (enqueue_by_alias("Step", {"name": name}) for name in "abc")
    output = taskqueue(
        "enqueue",
        "Step",
        "--depends-on",
        f"{c.pk},{a.pk}",
        "--depends-on",
        str(b.pk),
        "--on-parent-failure",
        "run",
        "--webhook-url",
        "https://example.com/hook",
    )
    child = QueueItem.objects.get(pk=int(output))
    assert child.status == "waiting"
    assert list(ItemDependency.objects.filter(child=child).values_list("parent_id", flat=True)) == [
        c.pk,
        a.pk,
        b.pk,
    ]
    assert (child.on_parent_failure, child.webhook_url) == ("run", "https://example.com/hook")


def test_enqueue_without_the_options_waits_for_nothing():
    item = QueueItem.objects.get(pk=int(taskqueue("enqueue", "Step")))
    assert (item.status, item.on_parent_failure, item.webhook_url) == ("queued", "cancel", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depends-on", "x"], "--depends-on: An item id must be a whole number"),
        (["--depends-on", "1,,2"], "--depends-on"),
        (["--depends-on", "0"], "out of range"),
        (["--depends-on", "424242"], r"#424242, which do not exist"),
        (["--on-parent-failure", "ignore"], "invalid choice: 'ignore'"),
        (["--webhook-url", "ftp://example.com"], "http:// or https://"),
    ],
)
def test_bad_dependency_options_are_refused_and_write_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        taskqueue("enqueue", "Step", *args)
    assert not QueueItem.all_objects.exists() and not ItemDependency.objects.exists()


def test_a_parent_named_twice_is_refused():
    parent = enqueue_by_alias("Step", {})
    with pytest.raises(CommandError, match="twice"):
        taskqueue("enqueue", "Step", "--depends-on", f"{parent.pk},{parent.pk}")
    assert QueueItem.all_objects.count() == 1


def test_list_filters_waiting_items():
    parent = enqueue_by_alias("Step", {})
    child = enqueue_by_alias("Step", {}, depends_on=[parent])
    assert [cells(row)[0] for row in rows(taskqueue("list", "--status", "waiting"))] == [
        str(child.pk)
    ]


# --------------------------------------------------------------------------- real processes


def test_a_real_process_enqueues_a_child_and_shows_the_workflow(runner_env):
    parent = enqueue_by_alias("Step", {"name": "parent"})
    child = taskqueue_process(runner_env, "enqueue", "Step", "--depends-on", str(parent.pk))
    assert child.returncode == 0, child.stderr
    assert QueueItem.objects.get(pk=int(child.stdout)).status == "waiting"

    workflow = enqueue_workflow(chain(step("one"), step("two")), name="pair")
    shown = taskqueue_process(runner_env, "workflow", str(workflow.pk))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"workflow #{workflow.pk} pair: running\n")
    assert len(rows(shown.stdout)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["enqueue", "Step", "--depends-on", "424242"], "#424242, which do not exist"),
        (["enqueue", "Step", "--on-parent-failure", "later"], "invalid choice: 'later'"),
        (["workflow", "424242"], "No workflow #424242."),
        (["workflows", "--status", "done"], "invalid choice: 'done'"),
    ],
)
def test_errors_in_a_real_process_exit_non_zero_with_no_traceback(runner_env, args, message):
    child = taskqueue_process(runner_env, *args)
    assert child.returncode != 0
    assert message in child.stderr and "Traceback" not in child.stderr
    assert child.stdout == ""
    assert not QueueItem.all_objects.exists()
