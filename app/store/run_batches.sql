-- Batches of runs (app/store/run_batches.py).

-- name: insert_runs_batch
-- Create the pending runs of a batch on existing threads in ONE statement (create -> pending for
-- each), in the batch's order, noting graph and assistant in each thread's metadata as
-- insert_run does. All or none: when a thread is missing, nothing is inserted (no row back).
-- Idempotent on run_id: a retried statement whose first try committed inserts nothing more.
WITH items AS (
    SELECT *
    FROM unnest(%(run_ids)s::uuid[], %(thread_ids)s::uuid[], %(assistant_ids)s::uuid[],
                %(graph_ids)s::text[], %(metadata)s::jsonb[], %(kwargs)s::jsonb[],
                %(multitask_strategies)s::text[], %(on_completions)s::text[],
                %(thread_metadata)s::jsonb[])
         WITH ORDINALITY AS i(run_id, thread_id, assistant_id, graph_id, metadata, kwargs,
                              multitask_strategy, on_completion, thread_metadata, ord)
), complete AS (
    SELECT count(*) = cardinality(%(run_ids)s::uuid[]) AS ok
    FROM items JOIN threads USING (thread_id)
), noted AS (
    UPDATE threads SET metadata = threads.metadata || items.thread_metadata, updated_at = now()
    FROM items, complete
    WHERE threads.thread_id = items.thread_id AND complete.ok
)
INSERT INTO runs (run_id, thread_id, assistant_id, graph_id, metadata, kwargs,
                  multitask_strategy, temporary, on_completion)
SELECT run_id, thread_id, assistant_id, graph_id, metadata, kwargs, multitask_strategy, false,
       on_completion
FROM items, complete
WHERE complete.ok
ORDER BY ord
ON CONFLICT (run_id) DO NOTHING
RETURNING *;

-- name: get_runs_by_ids
-- Runs by id (a batch retried after its COMMIT).
SELECT * FROM runs WHERE run_id = ANY(%(run_ids)s::uuid[]);

-- name: missing_threads
-- The threads of a refused batch that do not exist.
SELECT t.thread_id FROM unnest(%(thread_ids)s::uuid[]) AS t(thread_id)
WHERE NOT EXISTS (SELECT 1 FROM threads WHERE threads.thread_id = t.thread_id);
