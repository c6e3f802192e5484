-- Celery-style tasks (the `callboard` client, issue 13): retries declared on a task, and the
-- links of a canvas (chain, chord) whose later runs are created when the runs they wait for end.
-- depends: 0004_runs_extras_webhooks

-- Retries a task asked for (autoretry_for): each is one more attempt of the run, claimed after
-- its delay; they are counted here, apart from `attempt`, so MAX_ATTEMPTS bounds only the
-- attempts that infrastructure failures (lost leases, dead workers) use up.
ALTER TABLE runs ADD COLUMN retries integer NOT NULL DEFAULT 0 CHECK (retries >= 0);

-- A run that does not exist yet: the next step of a chain, or a chord's callback. Its id is
-- chosen when the canvas is created (clients hold it at once); the run is created, with that id,
-- by the transaction that records the success of the last run it waits for
-- (app/store/canvas.py), so it is created exactly once whatever crashes around it.
CREATE TABLE deferred_runs (
    run_id      uuid PRIMARY KEY,
    -- the run-create request of the task: {"assistant_id", "input": {"args", "kwargs"},
    -- "config", "metadata"} (app.run_requests.build_run), and whether runs wait for this one
    request     jsonb NOT NULL,
    -- how many of the runs it waits for have not succeeded yet; 0 = created (released_at set)
    waiting_for integer NOT NULL CHECK (waiting_for >= 0),
    -- chain: the step's result is put first in its args; chord: the list of the members' results
    kind        text NOT NULL CHECK (kind IN ('chain', 'chord')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    CONSTRAINT deferred_runs_released CHECK ((waiting_for = 0) = (released_at IS NOT NULL))
);

-- "deferred_run_id waits for run_id": one row per chain step (its previous step) and per chord
-- member. No foreign key on run_id: it may itself be a deferred run not created yet.
CREATE TABLE run_links (
    run_id          uuid NOT NULL,
    deferred_run_id uuid NOT NULL REFERENCES deferred_runs ON DELETE CASCADE,
    -- the member's place in the chord (its result's index in the callback's first argument)
    position        integer NOT NULL DEFAULT 0,
    -- the run's output, once it succeeded
    result          jsonb,
    done            boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, deferred_run_id)
);
CREATE INDEX run_links_deferred ON run_links (deferred_run_id);
