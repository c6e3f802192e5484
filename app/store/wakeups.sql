-- Wake-ups a refused claim may owe its own run (app/store/wakeups.py).

-- name: wait_running_of_thread
-- The runs still running on the thread of a pending run, after waiting (FOR SHARE) for any
-- finish of one of them that is in flight: a row that finish just ended no longer matches.
SELECT e.run_id FROM runs e JOIN runs b ON b.thread_id = e.thread_id
WHERE b.run_id = %(run_id)s AND b.status = 'pending' AND e.status = 'running'
FOR SHARE OF e;

-- name: thread_head_if_due
-- The oldest due pending run of the thread of %(run_id)s (the next_pending_run of that thread).
SELECT p.run_id, p.version FROM runs p JOIN runs b ON b.thread_id = p.thread_id
WHERE b.run_id = %(run_id)s AND p.status = 'pending'
  AND (p.not_before IS NULL OR p.not_before <= now())
ORDER BY p.seq
LIMIT 1;
