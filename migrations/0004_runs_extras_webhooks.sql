-- Delayed starts (after_seconds), Idempotency-Key on run creation, and webhook deliveries.
-- depends: 0001_initial_schema

-- A run created with after_seconds is not claimed before this instant (database clock); NULL =
-- as soon as its thread is free. A run waiting for its start does not hold up the runs of its
-- thread created after it (the official server orders a thread's runs by their start).
ALTER TABLE runs ADD COLUMN not_before timestamptz;

-- A client that retries a run creation with the same Idempotency-Key header gets the run of its
-- first request (app/store/runs.py). No foreign key: the key outlives its run (a stateless run's
-- thread is deleted when the run ends; the retry still gets the same run back, not a new one).
-- Kept 24 hours (sweeper/webhooks.py purges older keys).
CREATE TABLE run_idempotency_keys (
    -- the header (1-255 characters), plus "#<index>" for the runs of a batch
    idempotency_key text PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 300),
    -- sha256 of the request (target thread and body): the same key with another request is a 422
    fingerprint     text NOT NULL,
    run_id          uuid NOT NULL,
    -- the run as it was created (answered to a retry once the run itself is gone)
    run             jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_idempotency_keys_created_at ON run_idempotency_keys (created_at);

-- One POST of a run's final state to the URL of its "webhook" (kwargs->>'webhook') per run end.
-- Written by the trigger below in the statement that ends the run, so no end is missed whoever
-- ends it (worker finish, sweeper giving up, cancel before start). Delivered by the worker right
-- after the end, retried by the sweeper (workers/webhooks.py, sweeper/webhooks.py).
CREATE TABLE webhook_deliveries (
    delivery_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- no foreign key: the run may be deleted before delivery (stateless run, thread deleted)
    run_id          uuid NOT NULL UNIQUE,
    url             text NOT NULL,
    -- the run row as it ended (to_jsonb) and its thread's values then: the payload's source
    run             jsonb NOT NULL,
    thread_values   jsonb,
    -- pending:   to be sent at next_attempt_at  -> delivered | failed | pending (retry)
    -- delivered: the receiver answered 2xx (terminal)
    -- failed:    given up: attempts exhausted, or the URL is refused (terminal)
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    -- attempts started (a lease counts one)
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- when the next attempt is due; while an attempt is in flight, when its lease expires
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- set by each lease: only the holder of the current attempt may record its outcome
    lease_token     uuid,
    last_error      text,
    response_status integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CONSTRAINT webhook_deliveries_delivered_at CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_updated_at ON webhook_deliveries (updated_at) WHERE status <> 'pending';

-- Record the delivery of a run that just reached a terminal status and has a webhook. Runs as an
-- AFTER trigger: at the end of the ending statement, whose other changes (the thread's values)
-- it sees.
CREATE FUNCTION record_run_webhook() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (run_id, url, run, thread_values)
    SELECT NEW.run_id, NEW.kwargs ->> 'webhook', to_jsonb(NEW), t."values"
    FROM (SELECT 1) AS one LEFT JOIN threads t ON t.thread_id = NEW.thread_id
    ON CONFLICT (run_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER runs_record_webhook
AFTER UPDATE OF status ON runs
FOR EACH ROW
WHEN (NEW.status IN ('success', 'error', 'timeout', 'interrupted')
      AND OLD.status IN ('pending', 'running')
      AND NEW.kwargs ->> 'webhook' IS NOT NULL)
EXECUTE FUNCTION record_run_webhook();
