-- Cancels carried out when the attempt that should have carried them out is gone, and the lock
-- that keeps a cancel's statements consistent (app/store/runs.py: cancel_in, requeue_in).
-- Block format as queries.sql: "-- name: <query_name>", a one-line description, then the SQL.

-- name: lock_active_runs
-- Lock the unfinished runs a cancel selects, first: none of them can then move between pending
-- and running (a claim, a hand-back, the sweeper's requeue) between the cancel's statement for
-- pending runs and its statement for running ones. One lock order (run_id) for every cancel.
SELECT run_id FROM runs
WHERE status IN ('pending', 'running') AND status = ANY(%(statuses)s::text[])
  AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
  AND (%(run_ids)s::uuid[] IS NULL OR run_id = ANY(%(run_ids)s))
ORDER BY run_id
FOR UPDATE;

-- name: rollback_lapsed_run
-- The attempt asked to carry out a 'rollback' cancel is gone (its worker died, or handed it back):
-- delete the run instead of requeueing it, fenced like requeue_run; the thread goes idle. The
-- caller then deletes what it wrote (delete_runs_checkpoints). No row back = no such cancel.
WITH deleted AS (
    DELETE FROM runs
    WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND version = %(version)s
      AND status = 'running' AND cancel_action = 'rollback'
    RETURNING *
), thread AS (
    UPDATE threads
    SET status = 'idle', updated_at = now(), state_updated_at = now()
    FROM deleted WHERE threads.thread_id = deleted.thread_id
)
SELECT * FROM deleted;
