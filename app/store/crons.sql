-- Crons (app/store/crons.py): the resource, and the firing of due occurrences by the sweeper.
-- Block format as queries.sql: "-- name: <query_name>", a one-line description, then the SQL.

-- name: insert_cron
-- Create a cron (a missing thread or assistant is a foreign-key violation).
INSERT INTO crons (cron_id, assistant_id, thread_id, user_id, schedule, timezone, end_time,
                   payload, metadata, on_run_completed, enabled, next_run_date)
VALUES (%(cron_id)s, %(assistant_id)s, %(thread_id)s, %(user_id)s, %(schedule)s, %(timezone)s,
        %(end_time)s, %(payload)s, %(metadata)s, %(on_run_completed)s, %(enabled)s,
        %(next_run_date)s)
RETURNING *;

-- name: get_cron
-- One cron by id (if its metadata contains the auth filter: app/store/filters.py).
SELECT * FROM crons
WHERE cron_id = %(cron_id)s
  AND (%(auth_filter)s::jsonb IS NULL OR metadata @> %(auth_filter)s);

-- name: lock_cron
-- One cron by id, its row held until COMMIT (a PATCH recomputes its next occurrence from it).
SELECT * FROM crons WHERE cron_id = %(cron_id)s FOR NO KEY UPDATE;

-- name: update_cron
-- Replace the patchable columns of a cron (the caller merged them under lock_cron).
UPDATE crons
SET schedule = %(schedule)s, timezone = %(timezone)s, end_time = %(end_time)s,
    payload = %(payload)s, metadata = %(metadata)s, on_run_completed = %(on_run_completed)s,
    enabled = %(enabled)s, next_run_date = %(next_run_date)s, updated_at = now()
WHERE cron_id = %(cron_id)s
RETURNING *;

-- name: delete_cron
-- Delete a cron (runs it already created stay).
DELETE FROM crons WHERE cron_id = %(cron_id)s RETURNING cron_id;

-- name: search_crons
-- Crons filtered by assistant, thread, enabled and metadata containment.
SELECT * FROM crons
WHERE (%(assistant_id)s::uuid IS NULL OR assistant_id = %(assistant_id)s)
  AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s)
  AND metadata @> %(metadata)s
  AND metadata @> %(auth_filter)s
ORDER BY {order_by}
LIMIT %(limit)s OFFSET %(offset)s;

-- name: count_crons
-- How many crons match the same filters as search_crons.
SELECT count(*) AS count FROM crons
WHERE (%(assistant_id)s::uuid IS NULL OR assistant_id = %(assistant_id)s)
  AND (%(thread_id)s::uuid IS NULL OR thread_id = %(thread_id)s)
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s)
  AND metadata @> %(metadata)s
  AND metadata @> %(auth_filter)s;

-- name: lock_due_crons
-- Enabled crons whose next occurrence is due at %(now)s, held until COMMIT; rows another
-- sweeper holds are skipped (it is firing them), so each occurrence is taken by one transaction.
SELECT * FROM crons
WHERE enabled AND next_run_date <= %(now)s
ORDER BY next_run_date
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: advance_cron
-- Move a fired cron to its next occurrence (NULL: none before end_time), fenced on the
-- occurrence it fired: no row back = someone else fired it.
UPDATE crons SET next_run_date = %(next_run_date)s
WHERE cron_id = %(cron_id)s AND next_run_date = %(fired)s
RETURNING cron_id;
