"""The queue's tables carry storage settings for its churn (migration 0014, PostgreSQL)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def reloptions(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", [table])
        (options,) = cursor.fetchone()
    return dict(option.split("=", 1) for option in options or [])


def test_the_items_table_leaves_room_for_updates_and_is_vacuumed_early():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no fillfactor or autovacuum settings")
    items = reloptions("task_queue")
    assert items["fillfactor"] == "80"
    assert float(items["autovacuum_vacuum_scale_factor"]) <= 0.05
    assert float(items["autovacuum_analyze_scale_factor"]) <= 0.05
    assert reloptions("django_taskqueue_runner")["fillfactor"] == "50"
