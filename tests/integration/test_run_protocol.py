"""Defects of the run protocol found by review (issue 11), each shown by a test that failed on
the code before its fix. Workers are simulated by calling the actor body ``execute_run`` against
the in-process ``runtime`` (``tests/conftest.py``), as in ``test_state_machine.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.errors import StoreUnavailable
from app.notify import heartbeat_key
from app.runs import RunStatus
from app.store import runs as run_store
from app.store.db import Database
from tests.integration.run_helpers import new_run
from tests.support import executions, read_ledger_timed, wait_for
from workers.actors.execute_run import execute_run
from workers.executor import StopReason


@pytest.fixture
def db(settings) -> Iterator[Database]:
    database = Database(settings.database_url, max_size=8)
    yield database
    database.close()


def _get(db: Database, run_id: uuid.UUID) -> dict:
    row = run_store.get(db, run_id)
    assert row is not None
    return row


def _claim_of(row: dict) -> run_store.Claim:
    return run_store.Claim(run=row, claim_token=row["claim_token"], version=row["version"])


# --- 1. attempts are keyed by their claim, not by their run -------------------------------------


def test_a_stale_attempt_and_the_same_workers_next_attempt_are_kept_apart(runtime, ledger):
    """A false requeue (the sweeper saw no heartbeat of a live attempt), then the same worker
    claims attempt 2 while attempt 1 still executes: the lease check stops attempt 1 (it never
    reaches its end), and attempt 1's end leaves attempt 2's heartbeat and registry entry alone,
    so attempt 2 finishes the run (before the fix both were keyed by run_id: attempt 1 was
    invisible to the lease check, ran to its end, and its ``finally`` removed attempt 2's
    heartbeat, so the sweeper requeued the live attempt 2 in turn)."""
    db = runtime.db
    run = new_run(db, input={"sleep": 3})
    run_id = run["run_id"]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(execute_run, str(run_id), 1)
        try:
            wait_for(lambda: executions(ledger), timeout=10, what="attempt 1 started")
            requeued = run_store.requeue(
                db, _claim_of(_get(db, run_id)), reason="heartbeat lapsed", max_attempts=3
            )
            assert requeued["status"] == RunStatus.PENDING
            second = pool.submit(execute_run, str(run_id), requeued["version"])
            wait_for(lambda: executions(ledger)[str(run_id)] == 2, timeout=10, what="attempt 2")
            first.result(timeout=10)
            token = _get(db, run_id)["claim_token"]
            assert runtime.redis.exists(heartbeat_key(run_id, token)), "attempt 2 lost its beat"
            assert run_id in runtime.executor.active_run_ids
            second.result(timeout=15)
        finally:
            runtime.executor.stop(run_id, StopReason.SHUTDOWN)

    events = [(e.attempt, e.event) for e in read_ledger_timed(ledger)]
    assert events == [(1, "start"), (2, "start"), (1, "cancel"), (2, "end")]
    row = _get(db, run_id)
    assert row["status"] == RunStatus.SUCCESS and row["attempt"] == 2


# --- 3. a blocked event loop stops the heartbeats -----------------------------------------------


def test_a_blocked_event_loop_stops_the_heartbeats_and_the_taking_of_work(runtime, ledger):
    """An async node that blocks (``time.sleep`` on the loop) stalls every attempt of the
    process: its heartbeats must stop, so that the sweeper hands its runs to another worker, and
    the process must claim no further run while the loop is stalled (before the fix the beats,
    from their own thread, went on: the runs stayed ``running`` for as long as the loop was
    blocked, and new claims piled up behind it)."""
    db = runtime.db
    blocked = new_run(db, input={"block": 4})
    other = new_run(db, input={})
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(execute_run, str(blocked["run_id"]), 1)
        wait_for(lambda: executions(ledger), timeout=10, what="the blocking run started")
        token = _get(db, blocked["run_id"])["claim_token"]
        key = heartbeat_key(blocked["run_id"], token)
        wait_for(lambda: not runtime.redis.exists(key), timeout=3, what="the beats to stop")
        # a message taken while the loop is stalled is not claimed (the sweeper re-sends it)
        pool.submit(execute_run, str(other["run_id"]), 1).result(timeout=5)
        assert _get(db, other["run_id"])["status"] == RunStatus.PENDING
        first.result(timeout=15)
    # once the loop moves again the worker beats and takes work again
    assert _get(db, blocked["run_id"])["status"] == RunStatus.SUCCESS
    execute_run(str(other["run_id"]), 1)
    assert _get(db, other["run_id"])["status"] == RunStatus.SUCCESS


# --- 4. settling outlasts a Postgres outage while the lease holds -------------------------------


def test_a_result_is_settled_after_a_postgres_outage_longer_than_the_retry_budget(
    runtime, ledger, monkeypatch
):
    """The run's result is kept however long Postgres refuses the settle (here: the store's
    retry budget, ``StoreUnavailable``, runs out three times), and the heartbeat goes on
    meanwhile so that no sweeper takes the run away (before the fix the actor gave up after one
    budget, 30 s by default: the result was dropped and the run executed again)."""
    db = runtime.db
    run = new_run(db, input={"echo": 7})
    real_finish = run_store.finish
    refusals = []

    def finish(*args, **kwargs):
        if len(refusals) < 3:
            token = _get(db, run["run_id"])["claim_token"]
            refusals.append(runtime.redis.exists(heartbeat_key(run["run_id"], token)))
            raise StoreUnavailable("finish_run: Postgres unavailable (test)")
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(run_store, "finish", finish)
    execute_run(str(run["run_id"]), 1)
    assert refusals == [1, 1, 1]  # beating all along
    row = _get(db, run["run_id"])
    assert row["status"] == RunStatus.SUCCESS and row["attempt"] == 1
    assert row["output"] == {"ok": True, "echo": 7}
    assert [(e.attempt, e.event) for e in read_ledger_timed(ledger)] == [(1, "start"), (1, "end")]
