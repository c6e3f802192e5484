-- Runs: reads and the state machine's transitions (app/store/runs.py): claim, finish, requeue
-- (by a worker, or by the sweeper once a heartbeat lapsed), and what
-- the sweeper looks for (stale attempts, pending runs whose message may be lost). Each
-- transition is one conditional UPDATE (or DELETE): no row back = the caller lost the race.
-- Block format: "-- name: <query_name>", a one-line description, then the SQL; parameters
-- are psycopg named placeholders, %(name)s.

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

-- name: next_pending_run
-- The oldest pending run of a thread that is due: the one to wake when the thread frees up.
SELECT run_id, version, kwargs->'config'->'configurable'->>'queue' AS queue FROM runs
WHERE thread_id = %(thread_id)s AND status = 'pending'
  AND (not_before IS NULL OR not_before <= now())
ORDER BY seq
LIMIT 1;

-- name: get_run_leases
-- Status, claim token and cancel request of the runs a worker holds (its periodic lease check).
SELECT run_id, status, claim_token, cancel_action FROM runs WHERE run_id = ANY(%(run_ids)s);

-- name: run_start_delay
-- A pending run that is not due yet: its version and the seconds left before it may start.
SELECT run_id, version, extract(epoch FROM not_before - now())::float8 AS wait_seconds,
       kwargs->'config'->'configurable'->>'queue' AS queue
FROM runs
WHERE run_id = %(run_id)s AND status = 'pending' AND not_before > now();

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
-- carried out by rollback_run first). The outcome is computed in SET, from the row as
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

-- name: lock_lapsed_run
-- Take the row of a running attempt for its requeue (with requeue_run, in one transaction),
-- fenced like requeue_run; a row another transaction holds (a worker stalled inside a fenced
-- checkpoint write holds it FOR SHARE) is skipped, not waited for: the next tick tries again.
SELECT run_id FROM runs
WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND version = %(version)s
  AND status = 'running'
FOR UPDATE SKIP LOCKED;

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
