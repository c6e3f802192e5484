-- The fence of LangGraph's checkpoint writes (app/store/checkpoints.py).
-- Block format: "-- name: <query_name>", a one-line description, then the SQL; parameters
-- are psycopg named placeholders, %(name)s.

-- name: lock_run_lease
-- Fence a checkpoint write: inside the write's transaction, hold the run's row (FOR SHARE, until
-- COMMIT) only if this attempt still owns it. No row back = the lease is lost; write nothing.
SELECT 1 AS held FROM runs
WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
FOR SHARE;
