-- Webhook deliveries (app/store/webhooks.py): one row per run end with a webhook, written by the
-- trigger of migration 0004 in the statement that ends the run; sent by the worker right after the
-- end, retried by the sweeper. Each attempt is leased: it bumps attempts, sets a fresh
-- lease_token and moves next_attempt_at past the lease, in one conditional UPDATE, so two
-- senders never send the same attempt; only the lease holder records its outcome.
-- Block format as queries.sql: "-- name: <query_name>", a one-line description, then the SQL.

-- name: lease_run_webhook
-- Lease the next attempt of one run's delivery if it is due (the worker, right after the end).
-- No row back = nothing due (delivered, given up, leased by another sender, or no webhook).
UPDATE webhook_deliveries
SET attempts = attempts + 1, lease_token = gen_random_uuid(),
    next_attempt_at = now() + make_interval(secs => %(lease_seconds)s::float8), updated_at = now()
WHERE run_id = %(run_id)s AND status = 'pending' AND next_attempt_at <= now()
RETURNING *;

-- name: lease_due_webhooks
-- Lease the next attempt of deliveries due at %(now)s, oldest first; rows another sender is
-- leasing at this instant are skipped (SKIP LOCKED), rows leased meanwhile are not due any more.
UPDATE webhook_deliveries
SET attempts = attempts + 1, lease_token = gen_random_uuid(),
    next_attempt_at = %(now)s + make_interval(secs => %(lease_seconds)s::float8),
    updated_at = now()
WHERE delivery_id IN (
    SELECT delivery_id FROM webhook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= %(now)s
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
  AND status = 'pending' AND next_attempt_at <= %(now)s
RETURNING *;

-- name: record_webhook_delivered
-- The leased attempt got a 2xx answer (pending -> delivered). No row back = the lease was lost.
UPDATE webhook_deliveries
SET status = 'delivered', delivered_at = now(), lease_token = NULL, last_error = NULL,
    response_status = %(response_status)s, updated_at = now()
WHERE delivery_id = %(delivery_id)s AND lease_token = %(lease_token)s AND status = 'pending'
RETURNING *;

-- name: record_webhook_failure
-- The leased attempt failed: retry after %(retry_in)s seconds (pending), or give up (failed) when
-- the attempts are used up or %(give_up)s. No row back = the lease was lost.
UPDATE webhook_deliveries
SET status = CASE WHEN %(give_up)s OR attempts >= %(max_attempts)s
                  THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => %(retry_in)s::float8),
    lease_token = NULL, last_error = %(error)s, response_status = %(response_status)s,
    updated_at = now()
WHERE delivery_id = %(delivery_id)s AND lease_token = %(lease_token)s AND status = 'pending'
RETURNING *;

-- name: get_run_webhook
-- The delivery of a run's webhook, if any.
SELECT * FROM webhook_deliveries WHERE run_id = %(run_id)s;

-- name: purge_webhook_deliveries
-- Forget deliveries that ended (delivered or failed) before %(older_than)s.
DELETE FROM webhook_deliveries WHERE status <> 'pending' AND updated_at < %(older_than)s;
