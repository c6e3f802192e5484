-- Indexes for search and count on large tables (measured by bench/search.py on 100,000 threads;
-- see bench/README.md, "Search at 100,000 rows").
-- depends: 0001_initial_schema

-- POST /threads/search with a status filter, newest first (the default sort), and
-- POST /threads/count by status: read only that status's rows, in order. Without it a rare or
-- absent status scans the whole created_at index.
CREATE INDEX threads_status_created_at ON threads (status, created_at);

-- POST /threads/search sorted by updated_at (as a UI lists "recently active" threads) or by
-- state_updated_at: an index read in order stops after one page instead of sorting every thread.
CREATE INDEX threads_updated_at ON threads (updated_at);
CREATE INDEX threads_state_updated_at ON threads (state_updated_at);

-- POST /assistants/search, newest first or by updated_at (its sort options): same, for
-- assistants (rarely written, so these cost nothing on the hot path).
CREATE INDEX assistants_created_at ON assistants (created_at);
CREATE INDEX assistants_updated_at ON assistants (updated_at);
