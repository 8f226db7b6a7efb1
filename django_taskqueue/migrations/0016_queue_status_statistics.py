"""PostgreSQL: statistics on ``(queue_name, status)`` together, for the counts of big tables.

ANALYZE then records the most common (queue, status) pairs and their share of the table, from
which ``store/big_counts.py`` estimates a queue's finished items without counting millions of
rows. SQLite has no such statistics, and counts exactly: nothing to do.
"""

from django.db import migrations

STATISTICS = "task_queue_queue_status_stats"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (mcv) ON queue_name, status "
            "FROM task_queue"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [("django_taskqueue", "0015_tenants")]

    operations = [migrations.RunPython(create, drop)]
