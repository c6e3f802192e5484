-- What an operator looks at (app/operations.py: `callboard status`, /dashboard). Read-only.
-- Block format as queries.sql: "-- name: <query_name>", a one-line description, then the SQL.

-- name: count_runs_by_status
-- How many runs are in each status (every status, 0 included).
SELECT s.status, count(r.run_id) AS runs
FROM unnest(ARRAY['pending', 'running', 'success', 'error', 'timeout', 'interrupted']) AS s(status)
LEFT JOIN runs r ON r.status = s.status
GROUP BY s.status;

-- name: list_running_runs
-- The running runs, oldest claim first, with what identifies their heartbeat key.
SELECT run_id, thread_id, graph_id, attempt, worker_id, claim_token, claimed_at, created_at
FROM runs WHERE status = 'running'
ORDER BY claimed_at
LIMIT %(limit)s;

-- name: list_recent_runs
-- The newest runs, optionally of one status and/or one graph.
SELECT run_id, thread_id, graph_id, status, attempt, worker_id, created_at, claimed_at, ended_at,
       error
FROM runs
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(graph_id)s::text IS NULL OR graph_id = %(graph_id)s)
ORDER BY created_at DESC
LIMIT %(limit)s;

-- name: list_recent_failures
-- The runs that ended as error or timeout most recently, with their error.
SELECT run_id, thread_id, graph_id, status, attempt, ended_at, error
FROM runs
WHERE status IN ('error', 'timeout') AND ended_at IS NOT NULL
ORDER BY ended_at DESC
LIMIT %(limit)s;

-- name: run_rates_by_minute
-- Per minute over the last %(minutes)s minutes: runs ended, and the p50/p95 of their last
-- attempt's duration (claim to end) and of their wait in the queue (creation to claim), in ms.
SELECT date_trunc('minute', ended_at) AS minute,
       count(*) AS ended,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - claimed_at))
           * 1000 AS duration_p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - claimed_at))
           * 1000 AS duration_p95_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - created_at))
           * 1000 AS queue_wait_p50_ms
FROM runs
WHERE ended_at >= %(now)s - make_interval(mins => %(minutes)s)
GROUP BY 1
ORDER BY 1;

-- name: list_crons_by_next_fire
-- Crons by next fire time (due ones first), with their graph; "due" = enabled and past due.
SELECT c.cron_id, a.graph_id, c.schedule, c.timezone, c.next_run_date, c.enabled,
       c.thread_id, (c.enabled AND c.next_run_date <= %(now)s) AS due
FROM crons c JOIN assistants a USING (assistant_id)
ORDER BY c.next_run_date NULLS LAST
LIMIT %(limit)s;

-- name: count_due_crons
-- Enabled crons whose next occurrence is at or before now (the sweeper fires them).
SELECT count(*) AS due FROM crons WHERE enabled AND next_run_date <= %(now)s;

-- name: list_pending_webhooks
-- Webhook deliveries not yet delivered nor given up, next attempt first, and how many there are.
SELECT run_id, url, attempts, next_attempt_at, last_error, response_status,
       count(*) OVER () AS backlog
FROM webhook_deliveries
WHERE status = 'pending'
ORDER BY next_attempt_at
LIMIT %(limit)s;
