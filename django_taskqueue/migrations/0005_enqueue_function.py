"""PostgreSQL: the one insert of items as a PL/pgSQL function.

A function's statements are planned once per session and then reused, where the same
INSERT ... SELECT sent as text is planned again on every enqueue (about 0.4 ms of the
server's time, most of a fast enqueue). The function takes no session state of its own, so
it works through PgBouncer in transaction mode. It inserts exactly the columns of
``store.base.INSERTED_COLUMNS``; every other column takes its ``db_default``. The parameters
arrive as one JSON array, whose elements keep their text (a float stays a float).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION django_taskqueue_enqueue(
    p_alias text,
    p_parameters jsonb,
    p_queue text,
    p_priority integer,
    p_run_at timestamptz,
    p_now timestamptz,
    p_channel text
) RETURNS TABLE (
    item_id bigint,
    item_definition_id bigint,
    item_queue varchar,
    item_max_attempts integer,
    item_priority integer
)
LANGUAGE plpgsql AS $$
DECLARE
    d record;
    q varchar;
BEGIN
    SELECT td.id, td.queue_name, td.max_attempts, td.priority INTO d
    FROM django_taskqueue_taskdefinition AS td
    WHERE td.alias = p_alias AND td.is_active AND td.deleted_at IS NULL;
    IF NOT FOUND THEN
        RETURN;  -- no usable definition: the caller creates it or says why not
    END IF;
    q := COALESCE(p_queue, d.queue_name);
    RETURN QUERY
    INSERT INTO task_queue AS t (
        definition_id, queue_name, parameters, max_attempts, priority, run_at, created_at,
        updated_at
    )
    SELECT d.id, q, p.value, d.max_attempts, COALESCE(p_priority, d.priority), p_run_at,
           p_now, p_now
    FROM jsonb_array_elements(p_parameters) WITH ORDINALITY AS p(value, position)
    ORDER BY p.position
    RETURNING t.id, t.definition_id, t.queue_name, t.max_attempts, t.priority;
    -- Sent inside the caller's transaction: runners hear of the items at its commit.
    IF p_channel IS NOT NULL THEN
        PERFORM pg_notify(p_channel, q);
    END IF;
END
$$;
"""
DROP = (
    "DROP FUNCTION IF EXISTS "
    "django_taskqueue_enqueue(text, jsonb, text, integer, timestamptz, timestamptz, text);"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_taskqueue", "0004_attempt_finished_index")]

    operations = [migrations.RunPython(create, drop)]
