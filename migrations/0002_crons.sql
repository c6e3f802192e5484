-- Crons: run payloads fired on a cron schedule by the sweeper (sweeper/crons.py).
-- depends: 0001_initial_schema

CREATE TABLE crons (
    cron_id          uuid PRIMARY KEY,
    -- a cron whose assistant or thread is deleted goes with it
    assistant_id     uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
    -- NULL: a stateless cron (each run on a new thread, kept or deleted per on_run_completed)
    thread_id        uuid REFERENCES threads ON DELETE CASCADE,
    user_id          text,
    -- a standard 5-field cron expression (or an @-macro), checked by app/schedules.py
    schedule         text NOT NULL,
    -- IANA time zone the schedule is read in; NULL = UTC
    timezone         text,
    -- no run is created for an occurrence after this instant; NULL = no end
    end_time         timestamptz,
    -- the run-create body each occurrence uses (app.run_requests.build_run)
    payload          jsonb NOT NULL DEFAULT '{}',
    metadata         jsonb NOT NULL DEFAULT '{}',
    -- stateless crons only: what happens to a run's thread when it ends
    on_run_completed text CHECK (on_run_completed IN ('delete', 'keep')),
    CONSTRAINT crons_on_run_completed_stateless_only CHECK (
        thread_id IS NULL OR on_run_completed IS NULL),
    enabled          boolean NOT NULL DEFAULT true,
    -- the next occurrence to fire; NULL once the schedule has no occurrence before end_time.
    -- The sweeper fires a cron when enabled AND next_run_date <= now, and in the same
    -- transaction inserts the run and moves next_run_date past now (one run per occurrence).
    next_run_date    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX crons_due ON crons (next_run_date) WHERE enabled;
CREATE INDEX crons_assistant_id ON crons (assistant_id);
CREATE INDEX crons_thread_id ON crons (thread_id);
CREATE INDEX crons_created_at ON crons (created_at);
CREATE INDEX crons_metadata ON crons USING gin (metadata jsonb_path_ops);
