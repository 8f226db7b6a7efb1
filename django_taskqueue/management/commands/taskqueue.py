"""``manage.py taskqueue SUBCOMMAND``: argument parsing around the library's operator functions.

Every subcommand calls one function the admin and the HTTP API also use (``enqueue_by_alias``,
``queue_stats``, ``apply_action``, ``prune_finished_items``, ``recover_stuck_items``,
``sync_definitions``, ``sync_schedules``, ``fire_now``); bad input becomes a ``CommandError``,
never a traceback.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from django_taskqueue.actions import apply_action, set_queue_limits
from django_taskqueue.audit import command_line_actor
from django_taskqueue.conf import app_settings
from django_taskqueue.definitions import sync_definitions
from django_taskqueue.enqueue import enqueue_by_alias
from django_taskqueue.exceptions import TaskQueueError
from django_taskqueue.maintenance import recover_stuck_items
from django_taskqueue.management.arguments import (
    alias_name,
    concurrency_limit,
    duration_in,
    item_id,
    json_object,
    queue_name,
    rate_limit,
)
from django_taskqueue.management.prune_commands import PruneSubcommands, add_prune_subcommands
from django_taskqueue.management.schedule_commands import (
    ScheduleSubcommands,
    add_schedule_subcommands,
)
from django_taskqueue.management.tables import last_line, table
from django_taskqueue.management.workflow_commands import (
    WorkflowSubcommands,
    add_dependency_arguments,
    add_workflow_subcommands,
    dependency_options,
)
from django_taskqueue.models import QueueItem, QueueState, TaskDefinition
from django_taskqueue.schedules.sync import sync_schedules
from django_taskqueue.stats import queue_stats
from django_taskqueue.validation import check_integer

STATUSES = QueueItem.Status.values
MAX_LIST_LIMIT = 10_000
UNCHANGED = object()  # an option not given, as opposed to "none"


class Command(ScheduleSubcommands, WorkflowSubcommands, PruneSubcommands, BaseCommand):
    help = (
        "Operate the task queue: enqueue, inspect, requeue, cancel, purge, sync, recover, "
        "schedules, workflows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

        enqueue = commands.add_parser(
            "enqueue",
            help="Store one item; prints its id.",
            usage="%(prog)s ALIAS [--params JSON] [options]; see --help",
        )
        enqueue.add_argument("alias")
        enqueue.add_argument("--params", type=json_object, default={}, help="A JSON object.")
        enqueue.add_argument(
            "--queue",
            "--queue-name",
            dest="queue",
            type=queue_name,
            help="Queue name (default: the definition's).",
        )
        enqueue.add_argument("--priority", type=int, help="Higher runs first.")
        enqueue.add_argument(
            "--unique-key", help="At most one item per key (see the definition's unique_while)."
        )
        enqueue.add_argument(
            "--on-duplicate",
            choices=("return", "raise"),
            default="return",
            help="With --unique-key: print the holder's id (default) or fail.",
        )
        enqueue.add_argument(
            "--delay", type=duration_in("s"), help="Run after this long: 90s, 10m (bare: seconds)."
        )
        enqueue.add_argument(
            "--concurrency-key", help="The key per-key limits count by, e.g. customer:42."
        )
        enqueue.add_argument("--tenant", help="The tenant it belongs to (default: none).")
        add_dependency_arguments(enqueue)

        limits = commands.add_parser(
            "queue-limits",
            help="Show the queues' limits, or set one queue's.",
            usage="%(prog)s [QUEUE [--concurrency-limit N|none] [--rate-limit 20/s|none]]",
        )
        limits.add_argument("queue", nargs="?", type=queue_name)
        limits.add_argument(
            "--concurrency-limit", type=concurrency_limit, default=UNCHANGED, help="or none"
        )
        limits.add_argument(
            "--rate-limit", type=rate_limit, default=UNCHANGED, help='"20/s", "100/m" or none'
        )

        stats = commands.add_parser("stats", help="Item counts per queue and status.")
        stats.add_argument(
            "--queue", "--queue-name", dest="queue", type=queue_name, help="Only this queue."
        )

        listing = commands.add_parser("list", help="Items, newest first.")
        self._add_filters(listing)
        listing.add_argument("--limit", type=int, default=50, help="At most this many rows.")

        for action in ("requeue", "cancel"):
            sub = commands.add_parser(action, help=f"{action.title()} items by id or by filter.")
            sub.add_argument("ids", nargs="*", type=item_id, metavar="ID")
            self._add_filters(sub)

        add_prune_subcommands(commands)

        sync = commands.add_parser(
            "sync", help="Definitions from handlers, schedules from TASKQUEUE['SCHEDULES']."
        )
        sync.add_argument(
            "--reset",
            action="store_true",
            help="Reapply decorator defaults and declared schedules to existing rows.",
        )

        add_schedule_subcommands(commands)
        add_workflow_subcommands(commands)
        recover = commands.add_parser("recover", help="Requeue or fail items of dead runners.")
        recover.add_argument(
            "--unstuck-minutes",
            type=duration_in("m"),
            help="Silence that makes a runner dead: 5, 90s, 1h (bare: minutes; default: setting).",
        )

    @staticmethod
    def _add_filters(parser: CommandParser) -> None:
        parser.add_argument("--status", choices=STATUSES)
        parser.add_argument("--queue", "--queue-name", dest="queue", type=queue_name)
        parser.add_argument("--alias", type=alias_name)

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"handle_{options['subcommand'].replace('-', '_')}")
        try:
            handler(options)
        except TaskQueueError as exc:
            raise CommandError(str(exc)) from exc

    # ------------------------------------------------------------------ subcommands
    def handle_enqueue(self, options: dict[str, Any]) -> None:
        item = enqueue_by_alias(
            options["alias"],
            options["params"],
            queue_name=options["queue"],
            priority=options["priority"],
            delay=options["delay"],
            unique_key=options["unique_key"],
            on_duplicate=options["on_duplicate"],
            concurrency_key=options["concurrency_key"],
            tenant=options["tenant"],
            **dependency_options(options),
        )
        self.stdout.write(str(item.pk))

    def handle_queue_limits(self, options: dict[str, Any]) -> None:
        name, given = (
            options["queue"],
            {
                field: options[field]
                for field in ("concurrency_limit", "rate_limit")
                if options[field] is not UNCHANGED
            },
        )
        if given and name is None:
            raise CommandError("Name the queue whose limits to set.")
        if given:
            state = QueueState.objects.filter(name=name).first() or QueueState(name=name)
            values = {"concurrency_limit": state.concurrency_limit, "rate_limit": state.rate_limit}
            set_queue_limits(name, **{**values, **given}, actor=command_line_actor())
        states = QueueState.objects.filter(name=name) if name else QueueState.objects.all()
        rows = [
            [s.name, s.concurrency_limit or "-", s.rate_limit or "-", "yes" if s.is_paused else ""]
            for s in states
        ]
        if not rows:
            self.stdout.write(f"Queue {name!r} has no limits." if name else "No queue has limits.")
            return
        self.stdout.write(table(["QUEUE", "CONCURRENCY LIMIT", "RATE LIMIT", "PAUSED"], rows))

    def handle_stats(self, options: dict[str, Any]) -> None:
        counts = queue_stats(options["queue"])
        if not counts:
            self.stdout.write("No queue items.")
            return
        rows = [
            [queue, *(per_status[s] for s in STATUSES), sum(per_status.values())]
            for queue, per_status in counts.items()
        ]
        self.stdout.write(table(["QUEUE", *(s.upper() for s in STATUSES), "TOTAL"], rows))

    def handle_list(self, options: dict[str, Any]) -> None:
        check_integer(options["limit"], "--limit", 1, MAX_LIST_LIMIT)
        items = self._filtered(options).select_related("definition")[: options["limit"]]
        rows = [
            [
                item.pk,
                item.definition.alias,
                item.queue_name,
                item.status,
                f"{item.attempts}/{item.max_attempts}",
                item.priority,
                item.created_at.isoformat(timespec="seconds"),
                last_line(item.last_error),
            ]
            for item in items
        ]
        if not rows:
            self.stdout.write(self._nothing_matched(options))
            return
        headers = ["ID", "ALIAS", "QUEUE", "STATUS", "ATTEMPTS", "PRIORITY", "CREATED", "ERROR"]
        self.stdout.write(table(headers, rows))

    def handle_requeue(self, options: dict[str, Any]) -> None:
        self._apply("requeue", options)

    def handle_cancel(self, options: dict[str, Any]) -> None:
        self._apply("cancel", options)

    def _apply(self, action: str, options: dict[str, Any]) -> None:
        items = self._chosen(options)
        if not options["ids"] and not items.exists():
            self.stdout.write(f"{self._nothing_matched(options)} Nothing was changed.")
            return
        report = apply_action(action, items, actor=command_line_actor())
        self.stdout.write(report.summary())

    def handle_sync(self, options: dict[str, Any]) -> None:
        self.stdout.write(sync_definitions(reset=options["reset"]).summary())
        schedules = sync_schedules(app_settings.DATABASE, reset=options["reset"])
        self.stdout.write(schedules.summary())

    def handle_recover(self, options: dict[str, Any]) -> None:
        counts = recover_stuck_items(options["unstuck_minutes"])
        self.stdout.write(
            f"Recovered stuck items: {counts['requeued']} requeued, {counts['failed']} failed."
        )

    # ------------------------------------------------------------------ item selection
    def _filtered(self, options: dict[str, Any]) -> QuerySet[QueueItem]:
        return QueueItem.objects.matching(
            status=options["status"] or None,
            queue_name=options["queue"] or None,
            alias=options["alias"] or None,
        )

    @staticmethod
    def _nothing_matched(options: dict[str, Any]) -> str:
        """The same answer (and exit status 0) whichever filter matched nothing, with a hint
        when an alias or queue is unknown altogether, as a typo would be."""
        alias, queue = options["alias"], options["queue"]
        unknown = []
        if alias and not TaskDefinition.all_objects.filter(alias=alias).exists():
            unknown.append(f"no task definition has the alias {alias!r}")
        if queue and not QueueItem.all_objects.filter(queue_name=queue).exists():
            unknown.append(f"no item was ever on queue {queue!r}")
        return "No matching items" + (f" ({'; '.join(unknown)})." if unknown else ".")

    def _chosen(self, options: dict[str, Any]) -> QuerySet[QueueItem]:
        """Items named by id, or matched by filters; never both, never neither."""
        has_filter = any(options[name] for name in ("status", "queue", "alias"))
        ids = options["ids"]
        if ids and has_filter:
            raise CommandError("Give item ids or filters (--status, --queue, --alias), not both.")
        if ids:
            items = QueueItem.objects.filter(pk__in=ids)
            missing = sorted(set(ids) - set(items.values_list("pk", flat=True)))
            if missing:
                raise CommandError(
                    f"No queue item with id {', '.join(map(str, missing))}; nothing was changed."
                )
            return items
        if not has_filter:
            raise CommandError(
                "Give item ids, or filters (--status, --queue, --alias) to select items."
            )
        return self._filtered(options)
