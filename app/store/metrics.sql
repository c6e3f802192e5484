-- Read-only figures of /metrics (app/metrics.py), computed at scrape time.

-- name: count_live_runs
-- Runs waiting for a worker (pending) and executing (running).
SELECT status, count(*) AS n FROM runs WHERE status IN ('pending', 'running') GROUP BY status;

-- name: running_run_claims
-- Every running run's claim: the heartbeat key to look for, and how long ago it was claimed.
SELECT run_id, claim_token, extract(epoch FROM now() - claimed_at)::float8 AS claimed_seconds_ago
FROM runs WHERE status = 'running';

-- name: count_webhook_backlog
-- Webhook deliveries not yet made (pending), and the age of the oldest one in seconds.
SELECT count(*) AS n,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_seconds
FROM webhook_deliveries WHERE status = 'pending';
