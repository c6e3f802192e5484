-- Assistants, threads and runs: the resources of the API and the run state machine.
-- depends:

CREATE TABLE assistants (
    assistant_id uuid PRIMARY KEY,
    graph_id     text NOT NULL,
    name         text NOT NULL,
    description  text,
    config       jsonb NOT NULL DEFAULT '{}',
    context      jsonb NOT NULL DEFAULT '{}',
    metadata     jsonb NOT NULL DEFAULT '{}',
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assistants_graph_id ON assistants (graph_id);
CREATE INDEX assistants_metadata ON assistants USING gin (metadata jsonb_path_ops);

-- One row per version of an assistant (PATCH adds one; set_latest picks one).
CREATE TABLE assistant_versions (
    assistant_id uuid NOT NULL REFERENCES assistants ON DELETE CASCADE,
    version      integer NOT NULL,
    graph_id     text NOT NULL,
    name         text NOT NULL,
    description  text,
    config       jsonb NOT NULL DEFAULT '{}',
    context      jsonb NOT NULL DEFAULT '{}',
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (assistant_id, version)
);

CREATE TABLE threads (
    thread_id        uuid PRIMARY KEY,
    -- idle:        no run in progress; the last one (if any) succeeded
    -- busy:        a run is running on it
    -- interrupted: the last run was cancelled or stopped at an interrupt
    -- error:       the last run failed (error or timeout)
    status           text NOT NULL DEFAULT 'idle'
                     CHECK (status IN ('idle', 'busy', 'interrupted', 'error')),
    metadata         jsonb NOT NULL DEFAULT '{}',
    config           jsonb NOT NULL DEFAULT '{}',
    "values"         jsonb,
    error            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    state_updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX threads_metadata ON threads USING gin (metadata jsonb_path_ops);
CREATE INDEX threads_created_at ON threads (created_at);

CREATE TABLE runs (
    run_id        uuid PRIMARY KEY,
    -- creation order: runs of one thread execute in this order (multitask strategy "enqueue")
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    thread_id     uuid NOT NULL REFERENCES threads ON DELETE CASCADE,
    assistant_id  uuid NOT NULL,
    graph_id      text NOT NULL,
    -- pending:     waiting for a worker (created, handed back, or requeued by the sweeper)
    --              -> running (claim), -> interrupted (cancelled before it started)
    -- running:     claimed by exactly one worker, identified by claim_token
    --              -> success | error | timeout | interrupted (finish, by the claim holder)
    --              -> pending (lease lost, shutdown, transient DB error; attempts left)
    --              -> error (attempts exhausted)
    -- success, error, timeout, interrupted: terminal; ended_at is set
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'success', 'error', 'timeout', 'interrupted')),
    -- fencing token: bumped by every transition; a message carries the version it may claim
    version       bigint NOT NULL DEFAULT 1,
    -- attempts started so far (a claim counts one)
    attempt       integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    claim_token   uuid,
    worker_id     text,
    metadata      jsonb NOT NULL DEFAULT '{}',
    kwargs        jsonb NOT NULL DEFAULT '{}',
    multitask_strategy text NOT NULL DEFAULT 'enqueue'
                  CHECK (multitask_strategy IN ('reject', 'interrupt', 'rollback', 'enqueue')),
    -- stateless runs live on a temporary thread, deleted after the run when on_completion = 'delete'
    temporary     boolean NOT NULL DEFAULT false,
    on_completion text NOT NULL DEFAULT 'keep' CHECK (on_completion IN ('delete', 'keep')),
    output        jsonb,
    error         jsonb,
    -- set when a cancel of a running run was asked; the claim holder stops the run
    cancel_action text CHECK (cancel_action IN ('interrupt', 'rollback')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- when the current attempt was claimed (database clock)
    claimed_at    timestamptz,
    -- when the sweeper last re-sent the wake-up message of this pending run
    resent_at     timestamptz,
    ended_at      timestamptz,
    CONSTRAINT runs_ended_iff_terminal CHECK (
        (status IN ('success', 'error', 'timeout', 'interrupted')) = (ended_at IS NOT NULL)),
    CONSTRAINT runs_running_has_claim CHECK (
        status <> 'running' OR (claim_token IS NOT NULL AND claimed_at IS NOT NULL))
);
-- at most one running run per thread: a claim that would break this loses
CREATE UNIQUE INDEX runs_one_running_per_thread ON runs (thread_id) WHERE status = 'running';
CREATE INDEX runs_thread_seq ON runs (thread_id, seq);
CREATE INDEX runs_pending_seq ON runs (seq) WHERE status = 'pending';
CREATE INDEX runs_running_claimed_at ON runs (claimed_at) WHERE status = 'running';
CREATE INDEX runs_metadata ON runs USING gin (metadata jsonb_path_ops);
