-- Runs beyond create/claim/finish (app/store/runs.py): double-texting, cancels of many runs,
-- rollback (a run deleted with what it wrote), delayed starts, Idempotency-Key.
-- Block format as queries.sql: "-- name: <query_name>", a one-line description, then the SQL.
-- Filters shared by the cancel queries: %(thread_id)s (NULL = any thread), %(run_ids)s (NULL =
-- any run), %(statuses)s (the statuses to act on, among 'pending' and 'running').

-- name: interrupt_pending_runs
-- Cancel pending runs before they start (pending -> interrupted); their threads go idle unless
-- another of their runs is still unfinished.
WITH cancelled AS (
    UPDATE runs
    SET status = 'interrupted', version = version + 1, ended_at = now(), updated_at = now(),
        error = jsonb_build_object('error', 'UserInterrupt', 'message', %(reason)s::text)
    WHERE status = 'pending' AND 'pending' = ANY(%(statuses)s::text[])
      AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
      AND (%(run_ids)s::uuid[] IS NULL OR run_id = ANY(%(run_ids)s))
      AND (%(thread_filter)s::jsonb IS NULL OR thread_id IN (
          SELECT t.thread_id FROM threads t WHERE t.metadata @> %(thread_filter)s))
    RETURNING run_id, thread_id, status
), thread AS (
    UPDATE threads
    SET status = CASE WHEN EXISTS (
            SELECT 1 FROM runs r WHERE r.thread_id = threads.thread_id
              AND r.status IN ('pending', 'running')
              AND r.run_id NOT IN (SELECT run_id FROM cancelled))
        THEN threads.status ELSE 'idle' END,
        updated_at = now()
    WHERE thread_id IN (SELECT thread_id FROM cancelled)
)
SELECT * FROM cancelled;

-- name: rollback_pending_runs
-- Delete pending runs (their threads go idle unless another of their runs is unfinished); the
-- caller then deletes what an earlier attempt of theirs wrote (delete_runs_checkpoints).
WITH deleted AS (
    DELETE FROM runs
    WHERE status = 'pending' AND 'pending' = ANY(%(statuses)s::text[])
      AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
      AND (%(run_ids)s::uuid[] IS NULL OR run_id = ANY(%(run_ids)s))
      AND (%(thread_filter)s::jsonb IS NULL OR thread_id IN (
          SELECT t.thread_id FROM threads t WHERE t.metadata @> %(thread_filter)s))
    RETURNING run_id, thread_id, 'pending'::text AS status
), thread AS (
    UPDATE threads
    SET status = CASE WHEN EXISTS (
            SELECT 1 FROM runs r WHERE r.thread_id = threads.thread_id
              AND r.status IN ('pending', 'running')
              AND r.run_id NOT IN (SELECT run_id FROM deleted))
        THEN threads.status ELSE 'idle' END,
        updated_at = now()
    WHERE thread_id IN (SELECT thread_id FROM deleted)
)
SELECT * FROM deleted;

-- name: delete_runs_checkpoints
-- What deleted runs wrote (after rollback_run / rollback_pending_runs, in their transaction: a
-- statement of its own, so that it sees every write committed before the run's row was locked):
-- their checkpoints, those checkpoints' writes, and the blobs no remaining checkpoint of the
-- thread refers to. %(thread_ids)s and %(run_ids)s: text arrays.
WITH checkpoints_gone AS (
    DELETE FROM checkpoints c
    WHERE c.thread_id = ANY(%(thread_ids)s::text[])
      AND c.metadata ->> 'run_id' = ANY(%(run_ids)s::text[])
    RETURNING c.thread_id, c.checkpoint_ns, c.checkpoint_id
), writes_gone AS (
    DELETE FROM checkpoint_writes w USING checkpoints_gone g
    WHERE w.thread_id = g.thread_id AND w.checkpoint_ns = g.checkpoint_ns
      AND w.checkpoint_id = g.checkpoint_id
), blobs_gone AS (
    DELETE FROM checkpoint_blobs b
    WHERE b.thread_id IN (SELECT thread_id FROM checkpoints_gone)
      AND NOT EXISTS (
          SELECT 1 FROM checkpoints c
          WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
            AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version
            AND c.checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints_gone))
)
SELECT count(*) AS checkpoints FROM checkpoints_gone;

-- name: request_cancel_runs
-- Ask the claim holders of running runs to stop them (action 'interrupt' or 'rollback'); each
-- worker records the outcome. The caller publishes the cancels after COMMIT.
UPDATE runs
SET cancel_action = %(action)s, updated_at = now()
WHERE status = 'running' AND 'running' = ANY(%(statuses)s::text[])
  AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
  AND (%(run_ids)s::uuid[] IS NULL OR run_id = ANY(%(run_ids)s))
  AND (%(thread_filter)s::jsonb IS NULL OR thread_id IN (
      SELECT t.thread_id FROM threads t WHERE t.metadata @> %(thread_filter)s))
RETURNING run_id, thread_id, status;

-- name: rollback_run
-- A cancel with action 'rollback' stopped this attempt: delete the run, fenced on claim_token
-- (its row lock waits for checkpoint writes in flight, whose fence holds the row FOR SHARE); the
-- thread goes idle. The caller then deletes what it wrote (delete_runs_checkpoints). No row back
-- = the lease was lost.
WITH deleted AS (
    DELETE FROM runs
    WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
    RETURNING *
), thread AS (
    UPDATE threads
    SET status = 'idle', updated_at = now(), state_updated_at = now()
    FROM deleted WHERE threads.thread_id = deleted.thread_id
)
SELECT * FROM deleted;

-- name: delay_run_start
-- Set when a run just inserted may start (after_seconds from now, database clock).
UPDATE runs
SET not_before = now() + make_interval(secs => %(after_seconds)s::float8)
WHERE run_id = %(run_id)s
RETURNING *;

-- name: run_start_delay
-- A pending run that is not due yet: its version and the seconds left before it may start.
SELECT run_id, version, extract(epoch FROM not_before - now())::float8 AS wait_seconds,
       kwargs->'config'->'configurable'->>'queue' AS queue
FROM runs
WHERE run_id = %(run_id)s AND status = 'pending' AND not_before > now();

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
