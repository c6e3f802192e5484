-- Cancels of runs (app/store/cancels.py): pending runs end at once (interrupted, or deleted
-- with what they wrote by a 'rollback'), running runs get cancel_action for their claim holder;
-- and the deletion of a run a 'rollback' cancel stopped (by its attempt, or for it once gone).
-- A cancel of several runs locks them first (lock_active_runs, the one place that selects
-- them); the statements after it act on the %(run_ids)s it returned.
-- Block format: "-- name: <query_name>", a one-line description, then the SQL; parameters
-- are psycopg named placeholders, %(name)s.

-- name: lock_active_runs
-- Lock the unfinished runs a cancel selects, first: none of them can then move between pending
-- and running (a claim, a hand-back, the sweeper's requeue) between the cancel's statement for
-- pending runs and its statement for running ones. One lock order (run_id) for every cancel.
-- Selected by %(statuses)s (among 'pending' and 'running'), %(thread_id)s (NULL = any thread),
-- %(run_ids)s (NULL = any run), %(thread_filter)s (NULL = none: an auth filter their thread's
-- metadata must contain).
SELECT run_id FROM runs
WHERE status IN ('pending', 'running') AND status = ANY(%(statuses)s::text[])
  AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
  AND (%(run_ids)s::uuid[] IS NULL OR run_id = ANY(%(run_ids)s))
  AND (%(thread_filter)s::jsonb IS NULL OR thread_id IN (
      SELECT t.thread_id FROM threads t WHERE t.metadata @> %(thread_filter)s))
ORDER BY run_id
FOR UPDATE;

-- name: end_pending_runs
-- End the pending runs among %(run_ids)s before they start: %(action)s 'interrupt' ->
-- interrupted (error UserInterrupt, %(reason)s), 'rollback' -> deleted (the caller then deletes
-- what an earlier attempt of theirs wrote: delete_runs_checkpoints). Their threads go idle
-- unless another of their runs is still unfinished.
WITH interrupted AS (
    UPDATE runs
    SET status = 'interrupted', version = version + 1, ended_at = now(), updated_at = now(),
        error = jsonb_build_object('error', 'UserInterrupt', 'message', %(reason)s::text)
    WHERE run_id = ANY(%(run_ids)s::uuid[]) AND status = 'pending' AND %(action)s <> 'rollback'
    RETURNING run_id, thread_id, status
), deleted AS (
    DELETE FROM runs
    WHERE run_id = ANY(%(run_ids)s::uuid[]) AND status = 'pending' AND %(action)s = 'rollback'
    RETURNING run_id, thread_id, 'pending'::text AS status
), ended AS (
    SELECT * FROM interrupted UNION ALL SELECT * FROM deleted
), thread AS (
    UPDATE threads
    SET status = CASE WHEN EXISTS (
            SELECT 1 FROM runs r WHERE r.thread_id = threads.thread_id
              AND r.status IN ('pending', 'running')
              AND r.run_id NOT IN (SELECT run_id FROM ended))
        THEN threads.status ELSE 'idle' END,
        updated_at = now()
    WHERE thread_id IN (SELECT thread_id FROM ended)
)
SELECT * FROM ended;

-- name: request_cancel_runs
-- Ask the claim holders of the running runs among %(run_ids)s to stop them (%(action)s
-- 'interrupt' or 'rollback'); each worker records the outcome. The caller publishes the
-- cancels after COMMIT.
UPDATE runs
SET cancel_action = %(action)s, updated_at = now()
WHERE run_id = ANY(%(run_ids)s::uuid[]) AND status = 'running'
RETURNING run_id, thread_id, status;

-- name: delete_runs_checkpoints
-- What deleted runs wrote (after rollback_run / end_pending_runs, in their transaction: a
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

-- name: rollback_run
-- Delete a running run with what a 'rollback' cancel asked to delete, fenced on claim_token
-- (the row lock waits for checkpoint writes in flight, whose fence holds the row FOR SHARE);
-- the thread goes idle. The caller then deletes what it wrote (delete_runs_checkpoints).
-- %(lapsed_version)s NULL: the attempt itself carries out the cancel (its worker stopped it).
-- Else the attempt is gone (its worker died, or handed it back), and the run is deleted instead
-- of requeued only if that attempt, at that version, was asked a 'rollback'.
-- No row back = the lease was lost (or, lapsed, no such cancel).
WITH deleted AS (
    DELETE FROM runs
    WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
      AND (%(lapsed_version)s::int IS NULL
           OR (version = %(lapsed_version)s AND cancel_action = 'rollback'))
    RETURNING *
), thread AS (
    UPDATE threads
    SET status = 'idle', updated_at = now(), state_updated_at = now()
    FROM deleted WHERE threads.thread_id = deleted.thread_id
)
SELECT * FROM deleted;
