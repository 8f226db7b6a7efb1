"""Callables that django-crontab runs (see CRONJOBS in settings)."""

from django_taskqueue import enqueue_by_alias


def enqueue_nightly_report() -> None:
    enqueue_by_alias("ExportOrdersReport", {"days": 1})


def enqueue_cleanup() -> None:
    enqueue_by_alias("CleanupOldData", {"days": 90})
