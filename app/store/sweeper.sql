-- The sweeper's own statements (sweeper/jobs.py); the transitions themselves are in queries.sql.

-- name: lock_lapsed_run
-- Take the row of a running attempt for its requeue (with requeue_run, in one transaction),
-- fenced like requeue_run; a row another transaction holds (a worker stalled inside a fenced
-- checkpoint write holds it FOR SHARE) is skipped, not waited for: the next tick tries again.
SELECT run_id FROM runs
WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND version = %(version)s
  AND status = 'running'
FOR UPDATE SKIP LOCKED;
