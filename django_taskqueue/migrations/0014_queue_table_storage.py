"""PostgreSQL: storage settings that suit a queue's churn (docs/runners.md#big-tables).

Every item is updated several times in its life (claimed, heartbeaten through its runner,
finished), so its table is mostly dead tuples between vacuums. A fillfactor below 100 leaves
room on each page for the new versions, so most updates stay on the page and skip the indexes
(HOT updates); vacuuming and analysing after a small share of changed rows, instead of the
default 20% and 10%, keeps a table of millions of finished rows from swelling between
vacuums, and keeps the planner's numbers (and the admin's estimated counts) current. The
other hot tables get the same vacuum settings. SQLite has no such settings: nothing to do.
"""

from django.db import migrations

TABLES = {
    "task_queue": "fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02",
    "django_taskqueue_queueitemattempt": "autovacuum_vacuum_insert_scale_factor = 0.02, "
    "autovacuum_analyze_scale_factor = 0.02",
    "django_taskqueue_runner": "fillfactor = 50, autovacuum_vacuum_scale_factor = 0.0, "
    "autovacuum_vacuum_threshold = 1000",
    "task_queue_dependency": "fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02",
}
RESET = {
    table: ", ".join(part.split("=")[0].strip() for part in settings.split(","))
    for table, settings in TABLES.items()
}


def apply(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, settings in TABLES.items():
            schema_editor.execute(f"ALTER TABLE {table} SET ({settings})")


def reset(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table, names in RESET.items():
            schema_editor.execute(f"ALTER TABLE {table} RESET ({names})")


class Migration(migrations.Migration):
    dependencies = [("django_taskqueue", "0013_trace_context")]

    operations = [migrations.RunPython(apply, reset)]
