"""PostgreSQL: the claim under limits that cannot bind, as one PL/pgSQL function.

Sent as statements, a claim of a limited definition is four round trips (lock the due
definitions, read their usage, claim, write the ledger) and plans each anew. In a function
it is one call, its statements planned once per session; each of them still takes a fresh
snapshot (the function is VOLATILE), so the usage is read after the locks, as the planned
claim reads it. The function keeps no session state: PgBouncer in transaction mode is fine.

``p_limits`` describes the limits in force, as ``store/postgres.py`` writes it:
``{"definitions": [{"id", "running", "rate", "seconds", "scope", "keyed"}],
"queues": [{"name", "running", "rate", "seconds", "scope"}]}``, where ``running`` is a
concurrency limit, ``rate`` the starts allowed in a window of ``seconds`` (margin included),
``scope`` the ledger's name for it, and ``keyed`` says a definition has per-key limits.

It returns one row ``roomy = false`` when some limit could bind a claim of ``p_batch`` items
(the caller then plans the claim; the locks stay held), and otherwise the claimed items, each
with the claim's time: ``p_now`` moved on by the time the call took to take the locks.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION django_taskqueue_claim_roomy(
    p_queues text[],
    p_batch integer,
    p_runner text,
    p_now timestamptz,
    p_newest bigint,
    p_limits jsonb
) RETURNS TABLE (
    roomy boolean,
    claimed_at timestamptz,
    item_id bigint,
    item_definition_id bigint,
    item_queue varchar,
    item_parameters jsonb,
    item_attempts integer,
    item_max_attempts integer,
    item_priority integer
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_limited bigint[];
    v_due bigint[];
    v_at timestamptz;
BEGIN
    SELECT COALESCE(array_agg((d->>'id')::bigint), '{}') INTO v_limited
    FROM jsonb_array_elements(p_limits->'definitions') AS d;
    -- The limited definitions with items due on these queues, locked in id order, as every
    -- claim locks them (store/flow_sql.py, due_definitions_sql, says why it reads this way).
    SELECT COALESCE(array_agg(due.id), '{}') INTO v_due FROM (
        SELECT d.id FROM django_taskqueue_taskdefinition AS d
        WHERE d.id = ANY(v_limited)
          AND EXISTS (SELECT 1 FROM task_queue AS i
                      WHERE i.definition_id = d.id AND i.status = 'queued'
                        AND i.queue_name || '' = ANY(p_queues) AND i.run_at <= p_now)
        ORDER BY d.id
        FOR NO KEY UPDATE OF d
    ) AS due;
    -- Then the limited queues, in name order.
    PERFORM 1 FROM django_taskqueue_queuestate AS s
    WHERE s.name = ANY(ARRAY(SELECT q->>'name' FROM jsonb_array_elements(p_limits->'queues') AS q))
    ORDER BY s.name
    FOR NO KEY UPDATE;
    -- The claim is dated once the locks are held, on the caller's clock: p_now moved on by
    -- the time this call has taken.
    v_at := p_now + (clock_timestamp() - statement_timestamp());
    -- Room for p_batch more in every limit of the due definitions and of the queues?
    IF EXISTS (
        SELECT 1 FROM jsonb_to_recordset(p_limits->'definitions')
            AS l(id bigint, running bigint, rate bigint, seconds float8, scope text, keyed bool)
        WHERE l.id = ANY(v_due) AND (
            l.keyed
            OR l.running IS NOT NULL AND l.running - p_batch < (
                SELECT count(*) FROM task_queue AS i
                WHERE i.status = 'running' AND i.definition_id = l.id)
            OR l.rate IS NOT NULL AND l.rate - p_batch < (
                SELECT COALESCE(sum(st.count), 0) FROM django_taskqueue_limitstart AS st
                WHERE st.scope = l.scope
                  AND st.started_at > v_at - make_interval(secs => l.seconds)))
    ) OR EXISTS (
        SELECT 1 FROM jsonb_to_recordset(p_limits->'queues')
            AS l(name text, running bigint, rate bigint, seconds float8, scope text)
        WHERE l.running IS NOT NULL AND l.running - p_batch < (
                SELECT count(*) FROM task_queue AS i
                WHERE i.status = 'running' AND i.queue_name = l.name)
           OR l.rate IS NOT NULL AND l.rate - p_batch < (
                SELECT COALESCE(sum(st.count), 0) FROM django_taskqueue_limitstart AS st
                WHERE st.scope = l.scope
                  AND st.started_at > v_at - make_interval(secs => l.seconds))
    ) THEN
        RETURN QUERY SELECT false, v_at, NULL::bigint, NULL::bigint, NULL::varchar, NULL::jsonb,
                            NULL::integer, NULL::integer, NULL::integer;
        RETURN;
    END IF;
    -- The plain claim (store/postgres.py, _NEXT and _TAKE), but for the limited definitions
    -- that had nothing due (neither locked nor counted), and one ledger row per rate limit.
    RETURN QUERY
    WITH next AS (
        SELECT c.id FROM unnest(p_queues) AS q(name),
        LATERAL (
            SELECT i.id, i.priority, i.run_at FROM task_queue AS i
            WHERE i.status = 'queued' AND i.deleted_at IS NULL AND i.queue_name = q.name
                  AND i.run_at <= p_now AND i.definition_id <= p_newest
                  AND (i.definition_id = ANY(v_due) OR i.definition_id <> ALL(v_limited))
            ORDER BY i.priority DESC, i.run_at, i.id
            LIMIT p_batch
            FOR NO KEY UPDATE SKIP LOCKED
        ) AS c
        ORDER BY c.priority DESC, c.run_at, c.id
        LIMIT p_batch
    ), claimed AS (
        UPDATE task_queue AS t
        SET status = 'running', attempts = t.attempts + 1, started_at = v_at, updated_at = v_at,
            runner_id = p_runner, cancel_requested = FALSE,
            unique_claim = CASE WHEN t.unique_scope = 'queued' THEN NULL ELSE t.unique_claim END
        FROM next WHERE t.id = next.id
        RETURNING t.id, t.definition_id, t.queue_name, t.parameters, t.attempts,
                  t.max_attempts, t.priority
    ), started AS (
        INSERT INTO django_taskqueue_limitstart (scope, started_at, count)
        SELECT l.scope, v_at, count(*) FROM claimed
        JOIN jsonb_to_recordset(p_limits->'definitions') AS l(id bigint, rate bigint, scope text)
          ON l.id = claimed.definition_id
        WHERE l.rate IS NOT NULL GROUP BY l.scope
        UNION ALL
        SELECT l.scope, v_at, count(*) FROM claimed
        JOIN jsonb_to_recordset(p_limits->'queues') AS l(name text, rate bigint, scope text)
          ON l.name = claimed.queue_name
        WHERE l.rate IS NOT NULL GROUP BY l.scope
    )
    SELECT true, v_at, claimed.* FROM claimed;
END
$$;
"""
DROP = (
    "DROP FUNCTION IF EXISTS "
    "django_taskqueue_claim_roomy(text[], integer, text, timestamptz, bigint, jsonb);"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("django_taskqueue", "0009_flow_limits")]

    operations = [migrations.RunPython(create, drop)]
