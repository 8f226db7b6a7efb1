"""The ``taskqueue`` subcommands for workflows: ``workflows`` lists them, newest first, and
``workflow ID`` shows one with a table of its steps and whom each waits for; and the options
of ``enqueue`` that make an item wait for others, named as at every door."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, OutputWrapper

from django_taskqueue.lineage import status_counts, workflow_steps
from django_taskqueue.models import QueueItem, Workflow
from django_taskqueue.models.workflows import StatusCounts
from django_taskqueue.validation import check_integer

from .arguments import item_ids, workflow_id
from .tables import table

DEFAULT_LIMIT = 50
DEFAULT_STEP_LIMIT = 1000
MAX_LIMIT = 100_000


def add_workflow_subcommands(commands: Any) -> None:
    listing = commands.add_parser("workflows", help="Workflows, newest first, with their counts.")
    listing.add_argument("--status", choices=Workflow.Status.values)
    listing.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="At most this many rows.")
    show = commands.add_parser("workflow", help="One workflow: its status and its steps.")
    show.add_argument("workflow_id", type=workflow_id, metavar="ID")
    show.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_STEP_LIMIT,
        help=f"At most this many steps (default {DEFAULT_STEP_LIMIT}).",
    )


def add_dependency_arguments(enqueue: Any) -> None:
    enqueue.add_argument(
        "--depends-on",
        type=item_ids,
        action="append",
        default=[],
        metavar="ID",
        help="Wait until this item has succeeded; repeat it, or give a comma list: 3,4.",
    )
    enqueue.add_argument(
        "--on-parent-failure",
        choices=QueueItem.OnParentFailure.values,
        default=QueueItem.OnParentFailure.CANCEL,
        help="With --depends-on, when a parent fails or is canceled: cancel this item "
        "(default) or run it once every parent has finished.",
    )
    enqueue.add_argument("--webhook-url", help="Where its final outcome is POSTed.")


def dependency_options(options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``enqueue_by_alias`` those options give."""
    return {
        "depends_on": [pk for given in options["depends_on"] for pk in given],
        "on_parent_failure": options["on_parent_failure"],
        "webhook_url": options["webhook_url"],
    }


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


def _counted(counts: StatusCounts) -> str:
    """``2 success, 1 waiting``: the statuses its steps are in, the empty ones left out."""
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no steps"


class WorkflowSubcommands:
    stdout: OutputWrapper

    def handle_workflows(self, options: dict[str, Any]) -> None:
        check_integer(options["limit"], "--limit", 1, MAX_LIMIT)
        rows = Workflow.objects.order_by("-id")
        if options["status"]:
            rows = rows.filter(status=options["status"])
        page = list(rows[: options["limit"]])
        if not page:
            status = options["status"]
            self.stdout.write(f"No {status} workflows." if status else "No workflows.")
            return
        counts = status_counts(page)
        self.stdout.write(
            table(
                ["ID", "NAME", "STATUS", "STEPS", "CREATED"],
                [
                    [w.pk, w.name or "-", w.status, _counted(counts[w.pk]), _when(w.created_at)]
                    for w in page
                ],
            )
        )

    def handle_workflow(self, options: dict[str, Any]) -> None:
        check_integer(options["limit"], "--limit", 1, MAX_LIMIT)
        workflow = Workflow.objects.filter(pk=options["workflow_id"]).first()
        if workflow is None:
            raise CommandError(f"No workflow #{options['workflow_id']}.")
        counts = workflow.counts
        total = sum(counts.values())
        steps = workflow_steps(workflow, options["limit"])
        self.stdout.write(
            "\n".join(
                [
                    f"workflow #{workflow.pk}{' ' + workflow.name if workflow.name else ''}: "
                    f"{workflow.status}",
                    f"  created: {_when(workflow.created_at)}; "
                    f"completed: {_when(workflow.completed_at)}",
                    f"  steps: {total} ({_counted(counts)})",
                ]
            )
        )
        if not steps:
            return
        rows = [
            [step.id, step.alias, step.status, ", ".join(f"#{p}" for p in step.parents) or "-"]
            for step in steps
        ]
        self.stdout.write(table(["ID", "ALIAS", "STATUS", "WAITS FOR"], rows))
        if len(steps) < total:
            self.stdout.write(
                f"(the first {len(steps)} of {total} steps; --limit {total} shows them all)"
            )
