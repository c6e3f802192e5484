-- The long-term memory store (app/store/memory.py): LangGraph's PostgresStore owns the "store"
-- table and its queries; Callboard adds only the sweeper's expiry of items. Block format as
-- queries.sql: "-- name: <query_name>", a one-line description, then the SQL.

-- name: delete_expired_store_items
-- Store items whose TTL passed before now (their vectors, if any, go by ON DELETE CASCADE), at
-- most limit per call; rows another sweeper holds are skipped. Returns how many were deleted.
WITH expired AS (
    SELECT prefix, key FROM store
    WHERE expires_at <= %(now)s
    ORDER BY expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), deleted AS (
    DELETE FROM store s
    USING expired e
    WHERE s.prefix = e.prefix AND s.key = e.key
    RETURNING 1
)
SELECT count(*) AS count FROM deleted;
