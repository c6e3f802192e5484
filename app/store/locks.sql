-- Advisory locks (app/store/locks.py).
-- Block format: "-- name: <query_name>", a one-line description, then the SQL; parameters
-- are psycopg named placeholders, %(name)s.

-- name: try_advisory_lock
-- Take a transaction-scoped advisory lock if it is free (released at COMMIT); never waits.
SELECT pg_try_advisory_xact_lock(%(key)s) AS locked;
