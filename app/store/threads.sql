-- Threads beyond their basic CRUD (app/store/threads.py): TTL, state updates, copy, prune, and
-- the sweeper's expiry of threads. Block format as queries.sql: "-- name: <query_name>", a
-- one-line description, then the SQL.
--
-- LangGraph's checkpoint tables (checkpoints, checkpoint_blobs, checkpoint_writes) key their rows
-- by the thread id as text; a thread's checkpoints are deleted or copied with it here, in the
-- same statement.

-- name: create_thread
-- Create a thread with its metadata and an optional TTL (it expires ttl_minutes from now); on an
-- existing id do nothing (no row back).
INSERT INTO threads (thread_id, metadata, ttl_strategy, ttl_minutes, expires_at)
VALUES (%(thread_id)s, %(metadata)s, %(ttl_strategy)s, %(ttl_minutes)s::float8,
        now() + %(ttl_minutes)s::float8 * interval '1 minute')
ON CONFLICT (thread_id) DO NOTHING
RETURNING *;

-- name: patch_thread
-- Merge metadata into a thread and, when ttl_minutes is given, set its TTL from now.
UPDATE threads
SET metadata = metadata || %(metadata)s,
    ttl_strategy = coalesce(%(ttl_strategy)s, ttl_strategy),
    ttl_minutes = coalesce(%(ttl_minutes)s::float8, ttl_minutes),
    expires_at = coalesce(now() + %(ttl_minutes)s::float8 * interval '1 minute', expires_at),
    updated_at = now()
WHERE thread_id = %(thread_id)s
RETURNING *;

-- name: set_thread_state
-- Record a thread's state after a client updated it (under lock_thread, no run unfinished).
UPDATE threads
SET "values" = %(values)s, status = %(status)s, interrupts = %(interrupts)s, error = NULL,
    updated_at = now(), state_updated_at = now()
WHERE thread_id = %(thread_id)s
RETURNING *;

-- name: copy_thread
-- Copy a thread (metadata, config, values, interrupts, status; a busy thread's copy is idle) and
-- all its checkpoints under a new id, in one statement. No row back: the source does not exist.
WITH source AS (
    SELECT * FROM threads WHERE thread_id = %(thread_id)s
), copy AS (
    INSERT INTO threads (thread_id, status, metadata, config, "values", error, interrupts)
    SELECT %(new_thread_id)s, CASE WHEN status = 'busy' THEN 'idle' ELSE status END,
           metadata, config, "values", error, interrupts
    FROM source
    RETURNING *
), checkpoints AS (
    INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
                             checkpoint, metadata)
    SELECT %(new_thread_id)s::text, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
           c.type, c.checkpoint,
           CASE WHEN c.metadata ? 'thread_id'
                THEN jsonb_set(c.metadata, '{thread_id}', to_jsonb(%(new_thread_id)s::text))
                ELSE c.metadata END
    FROM checkpoints c
    WHERE c.thread_id = %(thread_id)s::text AND EXISTS (SELECT 1 FROM copy)
), blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT %(new_thread_id)s::text, b.checkpoint_ns, b.channel, b.version, b.type, b.blob
    FROM checkpoint_blobs b
    WHERE b.thread_id = %(thread_id)s::text AND EXISTS (SELECT 1 FROM copy)
), writes AS (
    INSERT INTO checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel,
                                   type, blob, task_path)
    SELECT %(new_thread_id)s::text, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.idx, w.channel,
           w.type, w.blob, w.task_path
    FROM checkpoint_writes w
    WHERE w.thread_id = %(thread_id)s::text AND EXISTS (SELECT 1 FROM copy)
)
SELECT * FROM copy;

-- name: delete_threads
-- Delete the threads of a list that exist, their runs (ON DELETE CASCADE) and checkpoints.
WITH deleted AS (
    DELETE FROM threads WHERE thread_id = ANY(%(thread_ids)s::uuid[])
    RETURNING thread_id::text AS thread_id
), checkpoints AS (
    DELETE FROM checkpoints WHERE thread_id IN (SELECT thread_id FROM deleted)
), writes AS (
    DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT thread_id FROM deleted)
), blobs AS (
    DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT thread_id FROM deleted)
)
SELECT thread_id FROM deleted;

-- name: keep_latest_checkpoints
-- Of the threads of a list that exist, delete every checkpoint but the latest of each namespace,
-- the pending writes of the deleted ones, and the blobs the kept ones do not reference.
WITH target AS (
    SELECT thread_id::text AS thread_id FROM threads
    WHERE thread_id = ANY(%(thread_ids)s::uuid[])
), latest AS (
    -- checkpoint ids sort in time order (LangGraph reads the latest as max(checkpoint_id))
    SELECT c.thread_id, c.checkpoint_ns, max(c.checkpoint_id) AS checkpoint_id
    FROM checkpoints c JOIN target t ON t.thread_id = c.thread_id
    GROUP BY c.thread_id, c.checkpoint_ns
), old_checkpoints AS (
    DELETE FROM checkpoints c
    USING target t
    WHERE c.thread_id = t.thread_id
      AND NOT EXISTS (
          SELECT 1 FROM latest l
          WHERE l.thread_id = c.thread_id AND l.checkpoint_ns = c.checkpoint_ns
            AND l.checkpoint_id = c.checkpoint_id)
), old_writes AS (
    DELETE FROM checkpoint_writes w
    USING target t
    WHERE w.thread_id = t.thread_id
      AND NOT EXISTS (
          SELECT 1 FROM latest l
          WHERE l.thread_id = w.thread_id AND l.checkpoint_ns = w.checkpoint_ns
            AND l.checkpoint_id = w.checkpoint_id)
), old_blobs AS (
    DELETE FROM checkpoint_blobs b
    USING target t
    WHERE b.thread_id = t.thread_id
      AND NOT EXISTS (
          SELECT 1 FROM latest l
          JOIN checkpoints c ON c.thread_id = l.thread_id AND c.checkpoint_ns = l.checkpoint_ns
                            AND c.checkpoint_id = l.checkpoint_id
          WHERE l.thread_id = b.thread_id AND l.checkpoint_ns = b.checkpoint_ns
            AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)
)
SELECT thread_id FROM target;

-- name: lock_expired_threads
-- Threads whose TTL (strategy delete) passed before now and that have no unfinished run, locked
-- for delete_expired_threads (at most limit; rows another sweeper holds are skipped). Once they
-- are locked no run can be created in them (its insert waits for the lock).
SELECT t.thread_id FROM threads t
WHERE t.expires_at <= %(now)s AND t.ttl_strategy = 'delete'
  AND NOT EXISTS (
      SELECT 1 FROM runs r
      WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))
ORDER BY t.expires_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: delete_expired_threads
-- Delete the threads locked by lock_expired_threads, their runs and checkpoints, unless a run
-- of theirs is unfinished: checked again in this statement of its own, whose snapshot sees a run
-- committed after lock_expired_threads' snapshot and before its lock. Returns the deleted ids.
WITH deleted AS (
    DELETE FROM threads t
    WHERE t.thread_id = ANY(%(thread_ids)s::uuid[])
      AND NOT EXISTS (
          SELECT 1 FROM runs r
          WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))
    RETURNING t.thread_id::text AS thread_id
), checkpoints AS (
    DELETE FROM checkpoints WHERE thread_id IN (SELECT thread_id FROM deleted)
), writes AS (
    DELETE FROM checkpoint_writes WHERE thread_id IN (SELECT thread_id FROM deleted)
), blobs AS (
    DELETE FROM checkpoint_blobs WHERE thread_id IN (SELECT thread_id FROM deleted)
)
SELECT thread_id FROM deleted;

-- name: rearm_expired_threads
-- Threads whose TTL (strategy keep_latest) passed before now and that have no unfinished run:
-- move expires_at ttl_minutes past now and return them (the caller then keeps only their latest
-- checkpoints, in the same transaction).
UPDATE threads
SET expires_at = %(now)s + ttl_minutes * interval '1 minute', updated_at = now()
WHERE thread_id IN (
    SELECT t.thread_id FROM threads t
    WHERE t.expires_at <= %(now)s AND t.ttl_strategy = 'keep_latest'
      AND NOT EXISTS (
          SELECT 1 FROM runs r
          WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))
    ORDER BY t.expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING thread_id;

-- name: visible_threads
-- Those of a list of threads that exist and whose metadata contains the auth filter.
SELECT thread_id FROM threads
WHERE thread_id = ANY(%(thread_ids)s::uuid[]) AND metadata @> %(auth_filter)s;
