-- Canvas (chain, chord) links of Celery-style tasks (migration 0011, app/store/canvas.py).

-- name: insert_deferred_run
-- A run to create once `waiting_for` runs have succeeded (a chain's next step, a chord's callback).
INSERT INTO deferred_runs (run_id, request, waiting_for, kind)
VALUES (%(run_id)s, %(request)s, %(waiting_for)s, %(kind)s);

-- name: insert_run_link
-- deferred_run_id waits for run_id (its result goes at `position` of the callback's argument).
INSERT INTO run_links (run_id, deferred_run_id, position)
VALUES (%(run_id)s, %(deferred_run_id)s, %(position)s);

-- name: record_link_result
-- A linked run succeeded: keep its result for the runs waiting for it, and count it down in each
-- of them once (row lock on each deferred run: concurrent members of a chord serialize here, so
-- exactly one transaction sees its count reach 0). Returns the deferred runs now due.
WITH done AS (
    UPDATE run_links SET result = %(output)s, done = true
    WHERE run_id = %(run_id)s AND NOT done
    RETURNING deferred_run_id
)
UPDATE deferred_runs d
SET waiting_for = waiting_for - 1,
    released_at = CASE WHEN waiting_for = 1 THEN now() END
FROM done
WHERE d.run_id = done.deferred_run_id AND d.waiting_for > 0
RETURNING d.*;

-- name: link_results
-- The results of the runs a deferred run waited for, in order.
SELECT result FROM run_links WHERE deferred_run_id = %(run_id)s ORDER BY position;

-- name: get_task_run
-- A run by id alone (the client's AsyncResult), or a deferred run not created yet (no row).
SELECT * FROM runs WHERE run_id = %(run_id)s;

-- name: expired_task_runs
-- Finished stateless runs whose result_expires (seconds, in their config) has passed.
SELECT thread_id FROM runs
WHERE temporary AND ended_at IS NOT NULL
  AND kwargs->'config'->'configurable' ? 'result_expires'
  AND ended_at + make_interval(secs => (kwargs->'config'->'configurable'->>'result_expires')::float8)
      < %(now)s
LIMIT %(limit)s;

-- name: retry_run
-- A task's retry (autoretry_for): running -> pending, not claimed before delay_seconds from now,
-- one more retry counted (not an attempt: requeue_run bounds attempts - retries); fenced on the
-- claim token, refused once a cancel was asked.
UPDATE runs
SET status = 'pending', version = version + 1, retries = retries + 1, claim_token = NULL,
    claimed_at = NULL, error = %(error)s, updated_at = now(),
    not_before = now() + make_interval(secs => %(delay_seconds)s)
WHERE run_id = %(run_id)s AND claim_token = %(claim_token)s AND status = 'running'
  AND cancel_action IS NULL
RETURNING *;

-- name: notify_run_created
-- Announce a run created inside a caller's transaction (enqueue_in): Postgres delivers the
-- notification at COMMIT only, and the sweeper's listener sends its message (sweeper/enqueued.py).
SELECT pg_notify('callboard_runs_created',
                 json_build_object('run_id', %(run_id)s::text, 'version', %(version)s::int,
                                   'queue', %(queue)s::text, 'delay', %(delay)s::float8)::text);

-- name: drop_deferred_runs
-- A linked run ended without success: the deferred runs still waiting for it will never be due.
-- Delete them (their links go with them) and return them, each to exactly one caller (row lock:
-- a concurrent member's finish of the same chord waits here, then finds nothing left).
DELETE FROM deferred_runs d
USING run_links l
WHERE l.run_id = %(run_id)s AND NOT l.done AND d.run_id = l.deferred_run_id
  AND d.waiting_for > 0
RETURNING d.*;

-- name: fail_created_run
-- End a run just created (pending, never claimed) as failed, with its thread: a canvas step or
-- chord callback whose predecessor failed. Same columns as finish_run's error.
WITH failed AS (
    UPDATE runs
    SET status = 'error', version = version + 1, output = %(output)s, error = %(error)s,
        not_before = NULL, ended_at = now(), updated_at = now()
    WHERE run_id = %(run_id)s AND status = 'pending'
    RETURNING *
), thread AS (
    UPDATE threads SET status = 'error', error = %(error)s, updated_at = now()
    FROM failed WHERE threads.thread_id = failed.thread_id
)
SELECT * FROM failed;

-- name: unreleased_failed_links
-- Linked runs that ended without success by a path other than a worker's finish (a revoke while
-- pending, attempts used up, a lapsed lease) and still have runs waiting for them: the sweeper
-- fails those (app.canvas.fail_in).
SELECT DISTINCT r.* FROM run_links l JOIN runs r ON r.run_id = l.run_id
WHERE NOT l.done AND r.status IN ('error', 'timeout', 'interrupted')
LIMIT %(limit)s;
