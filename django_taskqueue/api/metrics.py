"""``/metrics``: the numbers of ``stats`` in Prometheus' format, through ``prometheus_client``.

Everything is read from the database at scrape time, by whichever web process answers, so
the families are gauges: finished and failed figures are counts over a recent window, not
monotonic counters (pruning and requeues would make counters go backwards). The run-time and
queue-wait histograms are gauge histograms over the same window: ``histogram_quantile()``
applies to their ``_bucket`` series directly, without ``rate()``.

With ``METRICS_TENANT_LABEL``, ``taskqueue_items`` carries a ``tenant`` label as well: the
``METRICS_TENANT_LIMIT`` tenants with the most items by name, every other tenant summed as
``_other`` and items without a tenant as ``""``. Neither spelling is a tenant name (they
start with a letter or digit), so none can be mistaken for one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric

from ..conf import app_settings
from ..stats import QueueOverview

CONTENT_TYPE = CONTENT_TYPE_LATEST
OTHER_TENANTS = "_other"
# (queue, status, tenant, count), as QueueStore.counts_by_tenant reads them.
TenantCounts = list[tuple[str, str, str | None, int]]
# Seconds; the last bucket, +Inf, is implied.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
HISTOGRAMS = {
    "run": (
        "taskqueue_run_duration_seconds",
        "Run time of the attempts that finished in the window, by queue and alias.",
    ),
    "wait": (
        "taskqueue_queue_wait_seconds",
        "Time from enqueue to the start of the first attempt, for first attempts that "
        "finished in the window, by queue and alias.",
    ),
}


class QueueCollector:
    """One scrape's worth of families, from numbers already read."""

    def __init__(
        self,
        queues: list[QueueOverview],
        live_runners: int,
        window_minutes: int,
        histograms: list[dict[str, Any]],
        tenant_counts: TenantCounts | None = None,
    ) -> None:
        self.queues = queues
        self.live_runners = live_runners
        self.window_minutes = window_minutes
        self.histograms = histograms
        self.tenant_counts = tenant_counts

    def collect(self) -> Iterator[Metric]:
        yield self._items()
        per_queue = (
            (
                "taskqueue_items_finished_recent",
                f"Items that finished (success, failed or canceled) in the last "
                f"{self.window_minutes} minutes; a window count, not a total.",
                lambda q: q.completed_last_window,
            ),
            (
                "taskqueue_items_failed_last_hour",
                "Items that failed for good in the last hour; a window count, not a total.",
                lambda q: q.failed_last_hour,
            ),
            (
                "taskqueue_items_stuck",
                "Running items whose runner stopped heartbeating.",
                lambda q: q.stuck,
            ),
            (
                "taskqueue_oldest_queued_age_seconds",
                "Age of the oldest item that is due and waiting; 0 when none is waiting.",
                lambda q: round(q.oldest_queued_age_seconds or 0.0, 3),
            ),
            (
                "taskqueue_queue_paused",
                "1 when the queue is paused (runners do not claim from it), else 0.",
                lambda q: int(q.paused),
            ),
        )
        for name, documentation, value_of in per_queue:
            family = GaugeMetricFamily(name, documentation, labels=["queue"])
            for queue in self.queues:
                family.add_metric([queue.name], value_of(queue))
            yield family
        yield GaugeMetricFamily(
            "taskqueue_runners_live",
            "Runner processes with a recent heartbeat.",
            value=self.live_runners,
        )
        yield from self._histograms()

    def _items(self) -> Metric:
        if self.tenant_counts is None:
            items = GaugeMetricFamily(
                "taskqueue_items",
                "Items in the queue table by queue and status (soft-deleted items excluded).",
                labels=["queue", "status"],
            )
            for queue in self.queues:
                for status, count in queue.counts.items():
                    items.add_metric([queue.name, status], count)
            return items
        items = GaugeMetricFamily(
            "taskqueue_items",
            "Items in the queue table by queue, status and tenant (soft-deleted items "
            f'excluded; tenants beyond the busiest few summed as "{OTHER_TENANTS}").',
            labels=["queue", "status", "tenant"],
        )
        for (queue_name, status, tenant), count in bounded(self.tenant_counts).items():
            items.add_metric([queue_name, status, tenant], count)
        return items

    def _histograms(self) -> Iterator[Metric]:
        for kind, (name, documentation) in HISTOGRAMS.items():
            family = GaugeHistogramMetricFamily(name, documentation, labels=["queue", "alias"])
            for row in self.histograms:
                if row["histogram"] != kind:
                    continue
                buckets = [
                    (_le(bound), count)
                    for bound, count in zip(BUCKETS, row["buckets"], strict=True)
                ]
                buckets.append(("+Inf", row["count"]))
                family.add_metric([row["queue"], row["alias"]], buckets, gsum_value=row["sum"])
            yield family


def bounded(counts: TenantCounts) -> dict[tuple[str, str, str], int]:
    """The counts by (queue, status, tenant label): the ``METRICS_TENANT_LIMIT`` tenants with
    the most items keep their name (ties by name), the others share ``OTHER_TENANTS``."""
    totals: dict[str, int] = {}
    for _queue, _status, tenant, count in counts:
        if tenant is not None:
            totals[tenant] = totals.get(tenant, 0) + count
    busiest = sorted(totals, key=lambda tenant: (-totals[tenant], tenant))
    named = set(busiest[: int(app_settings.METRICS_TENANT_LIMIT)])
    labeled: dict[tuple[str, str, str], int] = {}
    for queue_name, status, tenant, count in counts:
        label = "" if tenant is None else tenant if tenant in named else OTHER_TENANTS
        key = (queue_name, status, label)
        labeled[key] = labeled.get(key, 0) + count
    return labeled


def _le(bound: float) -> str:
    return repr(float(bound))


def render(
    queues: list[QueueOverview],
    live_runners: int,
    window_minutes: int,
    histograms: list[dict[str, Any]],
    tenant_counts: TenantCounts | None = None,
) -> bytes:
    """The scrape's text; ``tenant_counts`` (with ``METRICS_TENANT_LABEL``) labels the item
    counts by tenant."""
    registry = CollectorRegistry(auto_describe=False)
    collector = QueueCollector(queues, live_runners, window_minutes, histograms, tenant_counts)
    registry.register(collector)
    return generate_latest(registry)
