-- Threads: the interrupts their last run stopped at, and a time-to-live the sweeper enforces.
-- depends: 0001_initial_schema

ALTER TABLE threads
    -- {task_id: [{"value": ..., "id": ...}]}: the pending interrupts of the thread's latest
    -- checkpoint, written with the thread's status when a run ends or the state is updated
    ADD COLUMN interrupts   jsonb NOT NULL DEFAULT '{}',
    -- what the sweeper does once expires_at has passed (NULL: the thread never expires)
    --   delete:      the thread, its runs and its checkpoints go
    --   keep_latest: only the latest checkpoint is kept; expires_at moves ttl_minutes ahead
    ADD COLUMN ttl_strategy text CHECK (ttl_strategy IN ('delete', 'keep_latest')),
    ADD COLUMN ttl_minutes  double precision CHECK (ttl_minutes > 0),
    ADD COLUMN expires_at   timestamptz,
    ADD CONSTRAINT threads_ttl_all_or_nothing CHECK (
        (ttl_strategy IS NULL) = (ttl_minutes IS NULL)
        AND (ttl_minutes IS NULL) = (expires_at IS NULL));

CREATE INDEX threads_expires_at ON threads (expires_at) WHERE expires_at IS NOT NULL;
