-- Creating runs (app/store/run_creation.py): on a thread or on a new temporary thread, a delayed
-- start, the Idempotency-Key that binds a request to the run it created.
-- Block format: "-- name: <query_name>", a one-line description, then the SQL; parameters
-- are psycopg named placeholders, %(name)s.

-- name: insert_run
-- Create a pending run on an existing thread (transition: create -> pending) and note the graph
-- and assistant in the thread's metadata, as the official server does. No row back: the thread
-- does not exist, or the run_id exists already (a retried insert: idempotent on run_id).
WITH t AS (
    UPDATE threads SET metadata = metadata || %(thread_metadata)s, updated_at = now()
    WHERE thread_id = %(thread_id)s
    RETURNING thread_id
)
INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, metadata, kwargs,
                  multitask_strategy, temporary, on_completion)
SELECT %(run_id)s, t.thread_id, %(assistant_id)s, %(graph_id)s, %(metadata)s, %(kwargs)s,
       %(multitask_strategy)s, false, %(on_completion)s
FROM t
ON CONFLICT (run_id) DO NOTHING
RETURNING *;

-- name: insert_run_with_thread
-- Create a stateless run on a new temporary thread, in one statement (create -> pending); the
-- thread gets the TTL given (ttl_minutes NULL: none).
WITH t AS (
    INSERT INTO threads (thread_id, metadata, ttl_strategy, ttl_minutes, expires_at)
    VALUES (%(thread_id)s, %(new_thread_metadata)s || %(thread_metadata)s, %(ttl_strategy)s,
            %(ttl_minutes)s::float8, now() + %(ttl_minutes)s::float8 * interval '1 minute')
    ON CONFLICT (thread_id) DO NOTHING
)
INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, metadata, kwargs,
                  multitask_strategy, temporary, on_completion)
VALUES (%(run_id)s, %(thread_id)s, %(assistant_id)s, %(graph_id)s, %(metadata)s, %(kwargs)s,
        %(multitask_strategy)s, true, %(on_completion)s)
ON CONFLICT (run_id) DO NOTHING
RETURNING *;

-- name: delay_run_start
-- Set when a run just inserted may start (after_seconds from now, database clock).
UPDATE runs
SET not_before = now() + make_interval(secs => %(after_seconds)s::float8)
WHERE run_id = %(run_id)s
RETURNING *;

-- name: get_idempotency_key
-- The run an Idempotency-Key created, with the fingerprint of the request that created it.
SELECT * FROM run_idempotency_keys WHERE idempotency_key = %(idempotency_key)s;

-- name: insert_idempotency_key
-- Bind an Idempotency-Key to the run its request created, in the run's transaction. No row back
-- = a concurrent request with the same key committed first (this one must roll back).
INSERT INTO run_idempotency_keys (idempotency_key, fingerprint, run_id, run)
SELECT %(idempotency_key)s, %(fingerprint)s, r.run_id, to_jsonb(r)
FROM runs r WHERE r.run_id = %(run_id)s
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *;

-- name: purge_idempotency_keys
-- Forget Idempotency-Keys older than the retention.
DELETE FROM run_idempotency_keys WHERE created_at < %(older_than)s;
