-- The operator's views (app/store/operations.sql: /dashboard, `callboard status`) read the runs
-- that ended in the last minutes; without this index each refresh scans the whole runs table.
-- depends: 0005_search_indexes

CREATE INDEX runs_ended_at ON runs (ended_at) WHERE ended_at IS NOT NULL;
