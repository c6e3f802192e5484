-- Assistants and threads: their basic reads and writes (app/store/assistants.py,
-- app/store/threads.py), and the thread lock that a state update and a run's creation both
-- take (lock_thread, thread_active_run); one named block each (Procrastinate's layout).
-- Block format: "-- name: <query_name>" then a one-line description comment, then the SQL.
-- Parameters are psycopg named placeholders: %(name)s.

-- name: insert_assistant
-- Create an assistant and its version 1; on an existing id do nothing (no row back).
WITH a AS (
    INSERT INTO assistants (assistant_id, graph_id, name, description, config, context, metadata)
    VALUES (%(assistant_id)s, %(graph_id)s, %(name)s, %(description)s, %(config)s, %(context)s,
            %(metadata)s)
    ON CONFLICT (assistant_id) DO NOTHING
    RETURNING *
), v AS (
    INSERT INTO assistant_versions (assistant_id, version, graph_id, name, description, config,
                                    context, metadata, created_at)
    SELECT assistant_id, version, graph_id, name, description, config, context, metadata, created_at
    FROM a
)
SELECT * FROM a;

-- name: get_assistant
-- One assistant by id (if its metadata contains the auth filter: app/store/filters.py).
SELECT * FROM assistants
WHERE assistant_id = %(assistant_id)s
  AND (%(auth_filter)s::jsonb IS NULL OR metadata @> %(auth_filter)s);

-- name: update_assistant
-- Patch an assistant: the given fields (NULL = keep) become a new version, which is made latest.
WITH cur AS (
    SELECT * FROM assistants WHERE assistant_id = %(assistant_id)s FOR UPDATE
), next AS (
    SELECT assistant_id,
           (SELECT max(version) + 1 FROM assistant_versions v
             WHERE v.assistant_id = cur.assistant_id) AS version,
           coalesce(%(graph_id)s, graph_id) AS graph_id,
           coalesce(%(name)s, name) AS name,
           coalesce(%(description)s, description) AS description,
           coalesce(%(config)s, config) AS config,
           coalesce(%(context)s, context) AS context,
           metadata || coalesce(%(metadata)s, '{}'::jsonb) AS metadata
    FROM cur
), v AS (
    INSERT INTO assistant_versions (assistant_id, version, graph_id, name, description, config,
                                    context, metadata)
    SELECT * FROM next
)
UPDATE assistants a
SET version = next.version, graph_id = next.graph_id, name = next.name,
    description = next.description, config = next.config, context = next.context,
    metadata = next.metadata, updated_at = now()
FROM next
WHERE a.assistant_id = next.assistant_id
RETURNING a.*;

-- name: delete_assistant
-- Delete an assistant (its versions go with it).
DELETE FROM assistants WHERE assistant_id = %(assistant_id)s RETURNING assistant_id;

-- name: search_assistants
-- Assistants filtered by graph, name and metadata containment, newest first by default.
SELECT * FROM assistants
WHERE (%(graph_id)s::text IS NULL OR graph_id = %(graph_id)s)
  AND (%(name)s::text IS NULL OR name ILIKE '%%' || %(name)s || '%%')
  AND metadata @> %(metadata)s
  AND metadata @> %(auth_filter)s
ORDER BY {order_by}
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_assistants
-- How many assistants match the same filters as search_assistants.
SELECT count(*) AS count FROM assistants
WHERE (%(graph_id)s::text IS NULL OR graph_id = %(graph_id)s)
  AND (%(name)s::text IS NULL OR name ILIKE '%%' || %(name)s || '%%')
  AND metadata @> %(metadata)s
  AND metadata @> %(auth_filter)s;

-- name: list_assistant_versions
-- The versions of one assistant, newest first.
SELECT * FROM assistant_versions
WHERE assistant_id = %(assistant_id)s AND metadata @> %(metadata)s
ORDER BY version DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: set_latest_assistant_version
-- Make a stored version the assistant's current one.
UPDATE assistants a
SET version = v.version, graph_id = v.graph_id, name = v.name, description = v.description,
    config = v.config, context = v.context, metadata = v.metadata, updated_at = now()
FROM assistant_versions v
WHERE a.assistant_id = %(assistant_id)s
  AND v.assistant_id = a.assistant_id AND v.version = %(version)s
RETURNING a.*;

-- name: insert_thread
-- Create a thread; on an existing id do nothing (no row back).
INSERT INTO threads (thread_id, metadata)
VALUES (%(thread_id)s, %(metadata)s)
ON CONFLICT (thread_id) DO NOTHING
RETURNING *;

-- name: get_thread
-- One thread by id (if its metadata contains the auth filter: app/store/filters.py).
SELECT * FROM threads
WHERE thread_id = %(thread_id)s
  AND (%(auth_filter)s::jsonb IS NULL OR metadata @> %(auth_filter)s);

-- name: update_thread
-- Merge metadata into a thread.
UPDATE threads
SET metadata = metadata || %(metadata)s, updated_at = now()
WHERE thread_id = %(thread_id)s
RETURNING *;

-- name: delete_thread
-- Delete a thread, its runs (ON DELETE CASCADE) and its checkpoints (LangGraph's tables, keyed
-- by the thread id as text), in one statement.
WITH deleted AS (
    DELETE FROM threads WHERE thread_id = %(thread_id)s RETURNING thread_id
), checkpoints AS (
    DELETE FROM checkpoints WHERE thread_id = %(thread_id)s::text
), writes AS (
    DELETE FROM checkpoint_writes WHERE thread_id = %(thread_id)s::text
), blobs AS (
    DELETE FROM checkpoint_blobs WHERE thread_id = %(thread_id)s::text
)
SELECT thread_id FROM deleted;

-- name: search_threads
-- Threads filtered by status, metadata containment, values containment and ids.
SELECT * FROM threads
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND metadata @> %(metadata)s
  AND (%(values)s::jsonb IS NULL OR "values" @> %(values)s)
  AND (%(ids)s::uuid[] IS NULL OR thread_id = ANY(%(ids)s))
  AND metadata @> %(auth_filter)s
ORDER BY {order_by}
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_threads
-- How many threads match the same filters as search_threads.
SELECT count(*) AS count FROM threads
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND metadata @> %(metadata)s
  AND (%(values)s::jsonb IS NULL OR "values" @> %(values)s)
  AND (%(ids)s::uuid[] IS NULL OR thread_id = ANY(%(ids)s))
  AND metadata @> %(auth_filter)s;

-- name: lock_thread
-- Serialize run creation on one thread for the rest of the transaction (multitask "reject").
SELECT thread_id FROM threads WHERE thread_id = %(thread_id)s FOR NO KEY UPDATE;

-- name: thread_active_run
-- A pending or running run of the thread, if any.
SELECT run_id, status FROM runs
WHERE thread_id = %(thread_id)s AND status IN ('pending', 'running')
LIMIT 1;
