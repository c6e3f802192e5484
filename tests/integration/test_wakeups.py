"""The wake-up a refused claim owes its run (``app/store/wakeups.py``): ``finish_run`` names the
next run from its own snapshot, so a run created while the run before it was being finished is
woken by the worker whose claim the finish's transaction refused."""

from __future__ import annotations

import threading
import uuid

import psycopg
from psycopg.rows import dict_row

from app.runs import RunStatus
from app.store import run_creation
from app.store import runs as run_store
from app.store.db import QUERIES, jsonb
from tests.integration.run_helpers import new_run, queued, run_kwargs
from tests.support import wait_for
from workers.actors.execute_run import execute_run


def _backend_waiting(db, what: str) -> None:
    def waiting() -> bool:
        with db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            ).fetchone()
            return row["n"] > 0

    wait_for(waiting, timeout=10, what=what)


def test_a_run_created_during_the_finish_before_it_is_still_woken(runtime, settings):
    db = runtime.db
    first = new_run(db, graph_id="noop", input={})
    thread_id = first["thread_id"]
    claim = run_store.claim(db, first["run_id"], 1, "w")
    assert claim is not None

    finisher = psycopg.connect(settings.database_url, row_factory=dict_row)
    creator = psycopg.connect(settings.database_url, row_factory=dict_row)
    try:
        # the second run's INSERT holds the thread's row...
        second_id = uuid.uuid4()
        params = run_creation.NewRun(
            run_id=second_id,
            thread_id=thread_id,
            assistant_id=uuid.uuid4(),
            graph_id="noop",
            metadata={},
            kwargs=run_kwargs("noop", {}, thread_id),
        ).params()
        creator.execute(QUERIES["insert_run"], params)
        # ...so the first run's finish (its snapshot taken now) waits for it
        finished: dict = {}

        def finish() -> None:
            finished["row"] = finisher.execute(
                QUERIES["finish_run"],
                {
                    "run_id": claim.run_id,
                    "claim_token": claim.claim_token,
                    "status": "success",
                    "output": jsonb({}),
                    "error": None,
                    "values": jsonb({}),
                    "thread_status": "idle",
                    "interrupts": jsonb({}),
                    **run_store.NO_CHECKPOINT.params(),
                },
            ).fetchone()

        finishing = threading.Thread(target=finish)
        finishing.start()
        _backend_waiting(db, "the finish waiting for the thread's row")
        creator.commit()
        finishing.join(timeout=10)
        assert finished["row"]["next_run_id"] is None  # its snapshot predates the second run

        # the second run's message arrives before the finish commits: its claim is refused...
        woken: list = []
        worker = threading.Thread(target=lambda: woken.append(execute_run(str(second_id), 1)))
        worker.start()
        _backend_waiting(db, "the refused claim waiting for the finish in flight")
        assert queued(runtime.redis, settings.queue_name) == []
        finisher.commit()
        worker.join(timeout=10)
    finally:
        finisher.close()
        creator.close()

    # ...and the worker that was refused sends it again once the finish committed
    assert queued(runtime.redis, settings.queue_name) == [(str(second_id), 1)]
    execute_run(str(second_id), 1)
    assert run_store.get(db, second_id)["status"] == RunStatus.SUCCESS


def test_a_run_behind_a_running_one_is_left_to_its_finish(runtime, settings):
    db = runtime.db
    first = new_run(db, graph_id="noop", input={})
    second = new_run(db, first["thread_id"], graph_id="noop", input={})
    assert run_store.claim(db, first["run_id"], 1, "w") is not None
    execute_run(str(second["run_id"]), 1)  # refused: the thread is busy
    assert queued(runtime.redis, settings.queue_name) == []
    assert run_store.get(db, second["run_id"])["status"] == RunStatus.PENDING
