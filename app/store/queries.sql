-- Every SQL statement of Callboard, one named block each (Procrastinate's layout).
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

-- name: lock_thread
-- Serialize run creation on one thread for the rest of the transaction (multitask "reject").
SELECT thread_id FROM threads WHERE thread_id = %(thread_id)s FOR NO KEY UPDATE;

-- name: thread_active_run
-- A pending or running run of the thread, if any.
SELECT run_id, status FROM runs
WHERE thread_id = %(thread_id)s AND status IN ('pending', 'running')
LIMIT 1;

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

-- name: get_run
-- One run by id (and thread, when the caller names one).
SELECT * FROM runs
WHERE run_id = %(run_id)s AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s);

-- name: list_runs
-- The runs of a thread, newest first, optionally of one status.
SELECT * FROM runs
WHERE thread_id = %(thread_id)s AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY seq DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: delete_run
-- Delete a run that is not running (a running run must be cancelled first).
DELETE FROM runs
WHERE run_id = %(run_id)s AND thread_id = %(thread_id)s AND status <> 'running'
RETURNING run_id;

-- name: claim_run
-- Claim a pending run for one attempt (pending -> running), fenced on its version; refused before
-- its start (not_before, after_seconds) and while an earlier run of the same thread is unfinished
-- (runs of a thread go in creation order; one waiting for its start holds up none).
-- No row back = the message was stale or a duplicate, the run is not due, or the thread is busy.
-- Also returned: the thread's latest checkpoint (id, channel versions, step; NULL for none), the
-- parent of the checkpoint a plain function's finish writes (workers/plain.py).
WITH claimed AS (
    UPDATE runs
    SET status = 'running', version = version + 1, attempt = attempt + 1,
        claim_token = %(claim_token)s, worker_id = %(worker_id)s,
        claimed_at = now(), updated_at = now(), cancel_action = NULL
    WHERE run_id = %(run_id)s AND version = %(version)s AND status = 'pending'
      AND (not_before IS NULL OR not_before <= now())
      AND NOT EXISTS (
          SELECT 1 FROM runs earlier
          WHERE earlier.thread_id = runs.thread_id AND earlier.seq < runs.seq
            AND earlier.status IN ('pending', 'running')
            AND (earlier.not_before IS NULL OR earlier.not_before <= now()))
    RETURNING *
), busy AS (
    UPDATE threads SET status = 'busy', updated_at = now()
    FROM claimed WHERE threads.thread_id = claimed.thread_id
)
SELECT claimed.*, latest.checkpoint_id AS parent_checkpoint_id,
       latest.checkpoint -> 'channel_versions' AS parent_channel_versions,
       (latest.metadata ->> 'step')::int AS parent_step
FROM claimed LEFT JOIN LATERAL (
    SELECT checkpoint_id, checkpoint, metadata FROM checkpoints
    WHERE thread_id = claimed.thread_id::text AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC LIMIT 1
) latest ON true;

-- name: finish_run
-- End the attempt held by claim_token (running -> success | error | timeout | interrupted) and
-- set the thread's status and values in the same statement. No row back = the lease was lost.
-- With %(checkpoint)s (a plain function's new state, workers/plain.py): insert that checkpoint
-- and its blobs too, only if the UPDATE matched: the claim_token predicate fences them, so a
-- stale attempt writes neither its finish nor its checkpoint.
-- Also returned: the thread's next pending run that is due (next_run_id, next_version, and its
-- queue: next_queue), to wake.
WITH finished AS (
    UPDATE runs
    SET status = %(status)s, version = version + 1, output = %(output)s, error = %(error)s,
        ended_at = now(), updated_at = now()
    WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
    RETURNING *
), thread AS (
    UPDATE threads
    SET status = %(thread_status)s, "values" = coalesce(%(values)s, threads."values"),
        interrupts = %(interrupts)s, error = %(error)s, updated_at = now(),
        state_updated_at = now()
    FROM finished WHERE threads.thread_id = finished.thread_id
), checkpoint AS (
    INSERT INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
    SELECT finished.thread_id::text, '', %(checkpoint_id)s, %(parent_checkpoint_id)s,
           %(checkpoint)s, %(checkpoint_metadata)s
    FROM finished WHERE %(checkpoint)s::jsonb IS NOT NULL
    ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO NOTHING
), blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT finished.thread_id::text, '', b.channel, b.version, b.type, b.blob
    FROM finished,
         unnest(%(blob_channels)s::text[], %(blob_versions)s::text[], %(blob_types)s::text[],
                %(blob_data)s::bytea[]) AS b(channel, version, type, blob)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
)
SELECT finished.*, next.run_id AS next_run_id, next.version AS next_version,
       next.queue AS next_queue
FROM finished LEFT JOIN LATERAL (
    SELECT run_id, version, kwargs->'config'->'configurable'->>'queue' AS queue FROM runs
    WHERE runs.thread_id = finished.thread_id AND runs.status = 'pending'
      AND (runs.not_before IS NULL OR runs.not_before <= now())
    ORDER BY runs.seq LIMIT 1
) next ON true;

-- name: requeue_run
-- Hand an attempt back (running -> pending), fenced on claim_token and version. Instead:
-- -> error when no attempt is left, -> interrupted when a cancel was asked (the attempt that
-- should have stopped is gone; running it again would undo the cancel; a 'rollback' cancel is
-- carried out by rollback_lapsed_run first). The outcome is computed in SET, from the row as
-- it is when the UPDATE gets it (after waiting for a cancel holding it), not from a snapshot.
-- refund_attempt: the attempt does not count (graceful shutdown is not the run's fault); nor do
-- the attempts a task's own retries made (retries, migration 0011).
WITH requeued AS (
    UPDATE runs
    SET status = CASE WHEN cancel_action IS NOT NULL THEN 'interrupted'
                      WHEN attempt - retries - %(refund_attempt)s::int >= %(max_attempts)s THEN 'error'
                      ELSE 'pending' END,
        attempt = attempt - %(refund_attempt)s::int,
        error = CASE
                WHEN cancel_action IS NOT NULL THEN jsonb_build_object('error', 'UserInterrupt',
                     'message', 'run cancelled (its attempt ended without stopping it: ' ||
                     %(reason)s::text || ')')
                WHEN attempt - retries - %(refund_attempt)s::int >= %(max_attempts)s THEN
                     jsonb_build_object('error', 'MaxAttemptsExceeded', 'message',
                     format('run gave up after %%s attempts; last: %%s', attempt,
                            %(reason)s::text))
                ELSE runs.error END,
        ended_at = CASE WHEN cancel_action IS NULL
                         AND attempt - retries - %(refund_attempt)s::int < %(max_attempts)s
                        THEN NULL ELSE now() END,
        version = version + 1, claim_token = NULL, claimed_at = NULL, updated_at = now()
    WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s
      AND version = %(version)s AND status = 'running'
    RETURNING runs.*
), thread AS (
    UPDATE threads
    SET status = CASE requeued.status WHEN 'pending' THEN 'busy' ELSE requeued.status END,
        error = CASE WHEN requeued.status = 'pending' THEN threads.error ELSE requeued.error END,
        updated_at = now()
    FROM requeued WHERE threads.thread_id = requeued.thread_id
)
SELECT * FROM requeued;

-- name: next_pending_run
-- The oldest pending run of a thread that is due: the one to wake when the thread frees up.
SELECT run_id, version, kwargs->'config'->'configurable'->>'queue' AS queue FROM runs
WHERE thread_id = %(thread_id)s AND status = 'pending'
  AND (not_before IS NULL OR not_before <= now())
ORDER BY seq
LIMIT 1;

-- name: cancel_pending_run
-- Cancel a run before it started (pending -> interrupted).
WITH cancelled AS (
    UPDATE runs
    SET status = 'interrupted', version = version + 1, ended_at = now(), updated_at = now(),
        error = jsonb_build_object('error', 'UserInterrupt', 'message', 'cancelled before it started')
    WHERE run_id = %(run_id)s AND thread_id = %(thread_id)s AND status = 'pending'
    RETURNING *
), thread AS (
    -- the thread is busy only while another run of it is unfinished
    UPDATE threads
    SET status = CASE WHEN EXISTS (
            SELECT 1 FROM runs r WHERE r.thread_id = threads.thread_id
              AND r.status IN ('pending', 'running') AND r.run_id <> %(run_id)s)
        THEN threads.status ELSE 'idle' END,
        updated_at = now()
    FROM cancelled WHERE threads.thread_id = cancelled.thread_id
)
SELECT * FROM cancelled;

-- name: request_cancel
-- Ask the claim holder of a running run to stop it; the worker records the outcome.
UPDATE runs
SET cancel_action = %(action)s, updated_at = now()
WHERE run_id = %(run_id)s AND thread_id = %(thread_id)s AND status = 'running'
RETURNING *;

-- name: get_run_leases
-- Status, claim token and cancel request of the runs a worker holds (its periodic lease check).
SELECT run_id, status, claim_token, cancel_action FROM runs WHERE run_id = ANY(%(run_ids)s);

-- name: lock_run_lease
-- Fence a checkpoint write: inside the write's transaction, hold the run's row (FOR SHARE, until
-- COMMIT) only if this attempt still owns it. No row back = the lease is lost; write nothing.
SELECT 1 AS held FROM runs
WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
FOR SHARE;

-- name: try_sweeper_lock
-- One active sweeper per tick: a transaction-scoped advisory lock (released at COMMIT).
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;

-- name: find_stale_runs
-- Running runs claimed longer ago than the heartbeat window: candidates for the sweeper, which
-- requeues those whose heartbeat key is gone.
-- Paged by (claimed_at, run_id) after %(after_claimed_at)s/%(after_run_id)s (NULL: from the
-- first), so that live runs claimed long ago cannot hide dead ones claimed later.
SELECT run_id, claim_token, version, attempt, worker_id, claimed_at FROM runs
WHERE status = 'running' AND claimed_at < %(claimed_before)s
  AND (%(after_claimed_at)s::timestamptz IS NULL
       OR (claimed_at, run_id) > (%(after_claimed_at)s, %(after_run_id)s::uuid))
ORDER BY claimed_at, run_id
LIMIT %(limit)s;

-- name: mark_pending_runs_resent
-- Pending runs at the head of their thread whose message may be lost (not created, handed back
-- or re-sent within the interval): stamp resent_at and return them, to be re-sent after COMMIT.
-- At most one extra message per pending run per interval. Runs not due yet (not_before) are left
-- alone: they neither get a message nor hold up the runs behind them.
UPDATE runs SET resent_at = now()
WHERE run_id IN (
    SELECT run_id FROM runs p
    WHERE p.status = 'pending'
      AND p.updated_at < %(older_than)s
      AND (p.resent_at IS NULL OR p.resent_at < %(older_than)s)
      AND (p.not_before IS NULL OR p.not_before <= now())
      AND NOT EXISTS (
          SELECT 1 FROM runs earlier
          WHERE earlier.thread_id = p.thread_id AND earlier.seq < p.seq
            AND earlier.status IN ('pending', 'running')
            AND (earlier.not_before IS NULL OR earlier.not_before <= now()))
    ORDER BY p.seq
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING run_id, version, kwargs->'config'->'configurable'->>'queue' AS queue;
