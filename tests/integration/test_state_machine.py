"""Every transition of DESIGN.md's run state machine, on the real Postgres and Redis, with the
races each one must lose cleanly.

    create → pending · pending → running (claim) · running → terminal (finish)
    running → pending (requeue) · pending → interrupted (cancel) · attempts exhausted → error

Workers are simulated by calling the actor body ``execute_run(run_id, version)`` (what a Dramatiq
worker thread calls for a message) against the in-process ``runtime``; the Dramatiq queue is the
real one in Redis, read with ``run_helpers.queued`` or consumed with ``run_helpers.drain``.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg.errors
import pytest

from app.errors import NotFound
from app.runs import RunStatus
from app.store import run_creation
from app.store import runs as run_store
from app.store import threads as thread_store
from app.store.db import Database
from tests.integration.run_helpers import (
    checkpoint_count,
    checkpoint_write_count,
    drain,
    new_run,
    new_thread,
    queued,
    sql,
)
from tests.support import executions, read_ledger, wait_for
from workers.actors.execute_run import execute_run, settle
from workers.executor import Outcome, StopReason, Verdict


@pytest.fixture
def db(settings) -> Iterator[Database]:
    database = Database(settings.database_url, max_size=24)
    yield database
    database.close()


def _get(db: Database, run_id: uuid.UUID | str) -> dict:
    row = run_store.get(db, uuid.UUID(str(run_id)))
    assert row is not None
    return row


# --- create → pending -------------------------------------------------------------------------


def test_create_inserts_a_pending_run_idempotently_on_run_id(db):
    thread_id = new_thread(db)
    run_id = uuid.uuid4()
    first = new_run(db, thread_id, run_id=run_id, input={"n": 1})
    assert first["status"] == RunStatus.PENDING
    assert first["version"] == 1
    assert first["attempt"] == 0
    assert first["claim_token"] is None and first["ended_at"] is None

    # a retried insert (its first try committed) answers the stored row and adds nothing
    again = new_run(db, thread_id, run_id=run_id, input={"n": 2})
    assert again == first
    rows = sql(db, "SELECT run_id FROM runs WHERE thread_id = %(t)s", {"t": thread_id})
    assert [r["run_id"] for r in rows] == [run_id]

    with pytest.raises(NotFound):
        new_run(db, uuid.uuid4())  # no such thread


def test_stateless_create_is_idempotent_on_run_id(db):
    run_id, thread_id = uuid.uuid4(), uuid.uuid4()
    params = dict(
        run_id=run_id,
        thread_id=thread_id,
        assistant_id=uuid.uuid4(),
        graph_id="ledger",
        metadata={},
        kwargs={"input": {}},
        temporary=True,
        on_completion="delete",
    )
    first = run_creation.create(db, [(run_creation.NewRun(**params), None)])[0].row
    assert first["status"] == RunStatus.PENDING and first["temporary"] is True
    assert run_creation.create(db, [(run_creation.NewRun(**params), None)])[0].row == first
    assert thread_store.get(db, thread_id) is not None
    assert sql(db, "SELECT count(*) AS n FROM runs")[0]["n"] == 1


# --- pending → running (claim) ----------------------------------------------------------------


def test_claim_is_fenced_on_version(db):
    run = new_run(db)
    run_id = run["run_id"]

    assert run_store.claim(db, run_id, 2, "w-future") is None  # a version that never was
    assert _get(db, run_id) == run

    claim = run_store.claim(db, run_id, 1, "w-1")
    assert claim is not None
    row = _get(db, run_id)
    assert row["status"] == RunStatus.RUNNING
    assert row["version"] == claim.version == 2
    assert row["attempt"] == claim.attempt == 1
    assert row["claim_token"] == claim.claim_token
    assert row["worker_id"] == "w-1" and row["claimed_at"] is not None
    assert thread_store.get(db, run["thread_id"])["status"] == "busy"

    # the same message again (a duplicate), and the new version (a run that is not pending)
    assert run_store.claim(db, run_id, 1, "w-2") is None
    assert run_store.claim(db, run_id, 2, "w-2") is None
    assert _get(db, run_id) == row


def test_many_claims_of_one_message_make_one_claim(db):
    run = new_run(db)
    n = 16
    barrier = threading.Barrier(n)

    def claim(i: int):
        barrier.wait(timeout=10)
        return run_store.claim(db, run["run_id"], 1, f"w-{i}")

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(claim, range(n)))
    winners = [c for c in results if c is not None]
    assert len(winners) == 1
    row = _get(db, run["run_id"])
    assert row["status"] == RunStatus.RUNNING
    assert row["claim_token"] == winners[0].claim_token
    assert row["attempt"] == 1 and row["version"] == 2


def test_two_workers_given_the_same_message_execute_it_once(runtime, ledger):
    run = new_run(runtime.db, input={"sleep": 0.2, "echo": "x"})
    run_id = str(run["run_id"])
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait(timeout=10)
        execute_run(run_id, 1)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(worker), pool.submit(worker)]:
            future.result(timeout=30)

    assert executions(ledger) == {run_id: 1}
    row = _get(runtime.db, run_id)
    assert row["status"] == RunStatus.SUCCESS
    assert row["output"] == {"ok": True, "echo": "x"}
    assert row["attempt"] == 1
    assert row["version"] == 3  # create 1, claim 2, finish 3: one claim, one finish
    assert thread_store.get(runtime.db, run["thread_id"])["status"] == "idle"


def test_duplicate_message_after_success_is_dropped(runtime, ledger):
    run = new_run(runtime.db, input={"echo": 1})
    run_id = str(run["run_id"])
    execute_run(run_id, 1)
    done = _get(runtime.db, run_id)
    assert done["status"] == RunStatus.SUCCESS
    assert executions(ledger) == {run_id: 1}

    execute_run(run_id, 1)  # the same message delivered again
    execute_run(run_id, done["version"])  # a message carrying the current version
    assert executions(ledger) == {run_id: 1}
    assert _get(runtime.db, run_id) == done
    assert queued(runtime.redis, runtime.settings.queue_name) == []


def test_stale_message_after_a_requeue_is_dropped_and_the_new_one_runs(runtime, ledger):
    db = runtime.db
    run = new_run(db, input={"echo": 2})
    run_id = str(run["run_id"])
    first = run_store.claim(db, run["run_id"], 1, "w-dead")
    requeued = run_store.requeue(db, first, reason="lease lost", max_attempts=3)
    assert requeued["status"] == RunStatus.PENDING and requeued["version"] == 3

    execute_run(run_id, 1)  # the message of the first attempt, redelivered
    assert executions(ledger) == {}
    assert _get(db, run_id) == requeued

    execute_run(run_id, 3)
    assert executions(ledger) == {run_id: 1}
    assert [r[1] for r in read_ledger(ledger) if r[3] == "start"] == [2]  # the second attempt
    row = _get(db, run_id)
    assert row["status"] == RunStatus.SUCCESS and row["attempt"] == 2


# --- running → terminal (finish) --------------------------------------------------------------


def test_finish_with_a_stale_claim_token_changes_nothing(db):
    run = new_run(db)
    run_id = run["run_id"]
    loser = run_store.claim(db, run_id, 1, "w-slow")
    # its lease lapses: the sweeper hands the run back and another worker claims it
    back = run_store.requeue(db, loser, reason="heartbeat lapsed", max_attempts=3)
    assert run_store.finish(db, loser, RunStatus.SUCCESS, output={"by": "loser"}) is None
    assert _get(db, run_id) == back  # still pending, untouched

    winner = run_store.claim(db, run_id, back["version"], "w-fast")
    assert winner is not None
    running = _get(db, run_id)
    failed = {"error": "X", "message": "x"}
    assert run_store.finish(db, loser, RunStatus.ERROR, error=failed) is None
    assert _get(db, run_id) == running

    done = run_store.finish(
        db, winner, RunStatus.SUCCESS, output={"by": "winner"}, values={"by": "winner"}
    )
    assert done is not None and done["status"] == RunStatus.SUCCESS

    for status in (RunStatus.SUCCESS, RunStatus.INTERRUPTED):
        assert run_store.finish(db, loser, status, output={"by": "loser"}) is None
    row = _get(db, run_id)
    assert row == done
    assert row["output"] == {"by": "winner"}
    thread = thread_store.get(db, run["thread_id"])
    assert thread["status"] == "idle" and thread["values"] == {"by": "winner"}


def test_finish_retried_after_its_commit_answers_its_own_row(db):
    run = new_run(db)
    claim = run_store.claim(db, run["run_id"], 1, "w")
    done = run_store.finish(db, claim, RunStatus.SUCCESS, output={"v": 1})
    # the acknowledgement of the first try was lost: the retry sees its own committed finish
    assert run_store.finish(db, claim, RunStatus.SUCCESS, output={"v": 1}) == done
    # but a different verdict for the same attempt is not its own: lost
    failed = {"error": "E", "message": "e"}
    assert run_store.finish(db, claim, RunStatus.ERROR, error=failed) is None
    assert _get(db, run["run_id"]) == done


# --- running → pending (requeue), attempts exhausted -------------------------------------------


def test_requeue_is_fenced_on_claim_token_and_version(db):
    run = new_run(db)
    claim = run_store.claim(db, run["run_id"], 1, "w")
    running = _get(db, run["run_id"])

    wrong_token = dataclasses.replace(claim, claim_token=uuid.uuid4())
    wrong_version = dataclasses.replace(claim, version=claim.version - 1)
    assert run_store.requeue(db, wrong_token, reason="r", max_attempts=3) is None
    assert run_store.requeue(db, wrong_version, reason="r", max_attempts=3) is None
    assert _get(db, run["run_id"]) == running

    row = run_store.requeue(db, claim, reason="transient", max_attempts=3)
    assert row["status"] == RunStatus.PENDING
    assert row["version"] == claim.version + 1
    assert row["attempt"] == 1  # the attempt counts
    assert row["claim_token"] is None and row["claimed_at"] is None and row["ended_at"] is None
    assert thread_store.get(db, run["thread_id"])["status"] == "busy"

    # the same hand-back twice: the second loses
    assert run_store.requeue(db, claim, reason="transient", max_attempts=3) is None
    assert _get(db, run["run_id"]) == row


def test_shutdown_hand_back_does_not_count_an_attempt(db):
    run = new_run(db)
    claim = run_store.claim(db, run["run_id"], 1, "w")
    row = run_store.requeue(
        db, claim, reason="worker shut down", max_attempts=1, refund_attempt=True
    )
    assert row["status"] == RunStatus.PENDING and row["attempt"] == 0


def test_attempts_exhausted_end_the_run_as_error_and_free_the_thread(runtime, ledger):
    db, settings = runtime.db, runtime.settings
    assert settings.max_attempts == 3
    thread_id = new_thread(db)
    run = new_run(db, thread_id)
    run_id = run["run_id"]
    version = 1
    transient = {"error": "OperationalError", "message": "connection reset by peer"}
    for attempt in range(1, settings.max_attempts + 1):
        claim = run_store.claim(db, run_id, version, runtime.worker_id)
        assert claim is not None and claim.attempt == attempt
        # what the actor does when the executor reports a transient failure
        settle(runtime, claim, Outcome(Verdict.REQUEUE, error=transient))
        row = _get(db, run_id)
        if attempt < settings.max_attempts:
            assert row["status"] == RunStatus.PENDING
            # handed back and re-sent after COMMIT, with the version that can claim it
            assert queued(runtime.redis, settings.queue_name)[-1] == (str(run_id), row["version"])
            version = row["version"]

    assert row["status"] == RunStatus.ERROR
    assert row["ended_at"] is not None and row["claim_token"] is None
    assert row["error"]["error"] == "MaxAttemptsExceeded"
    assert "gave up after 3 attempts" in row["error"]["message"]
    assert "connection reset by peer" in row["error"]["message"]
    thread = thread_store.get(db, thread_id)
    assert thread["status"] == "error"
    assert thread["error"] == row["error"]
    # no message for a run that can no longer be claimed
    assert queued(runtime.redis, settings.queue_name) == [(str(run_id), 3), (str(run_id), 5)]

    # the thread takes a new run, which runs and succeeds
    nxt = new_run(db, thread_id, input={"echo": "after"})
    execute_run(str(nxt["run_id"]), 1)
    done = _get(db, nxt["run_id"])
    assert done["status"] == RunStatus.SUCCESS and done["output"] == {"ok": True, "echo": "after"}
    assert executions(ledger) == {str(nxt["run_id"]): 1}
    assert thread_store.get(db, thread_id)["status"] == "idle"


# --- pending → interrupted, and cancelling a running run ---------------------------------------


def _create(client, thread_id: str, assistant_id: str, input: dict) -> dict:
    response = client.post(
        f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id, "input": input}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_cancel_of_a_pending_run_interrupts_it_and_its_message_is_dropped(client, runtime, ledger):
    db = runtime.db
    thread_id = client.post("/threads", json={}).get_json()["thread_id"]
    run = _create(client, thread_id, "ledger", {"echo": 1})
    assert run["status"] == "pending"

    response = client.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel")
    assert response.status_code == 202
    row = _get(db, run["run_id"])
    assert row["status"] == RunStatus.INTERRUPTED
    assert row["version"] == 2 and row["attempt"] == 0 and row["ended_at"] is not None
    assert row["error"]["error"] == "UserInterrupt"
    assert thread_store.get(db, uuid.UUID(thread_id))["status"] == "idle"
    body = client.get(f"/threads/{thread_id}/runs/{run['run_id']}").get_json()
    assert body["status"] == "interrupted"

    # its message, sent at creation, is still queued: delivering it executes nothing
    assert queued(runtime.redis, runtime.settings.queue_name) == [(run["run_id"], 1)]
    drain(runtime.actor.broker, runtime.settings.queue_name, execute_run)
    assert executions(ledger) == {}
    assert _get(db, run["run_id"]) == row

    # cancelling it again (it is no longer pending) changes nothing
    assert client.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel").status_code == 202
    assert _get(db, run["run_id"]) == row


def test_cancel_of_a_pending_run_wakes_the_next_one(client, runtime, ledger):
    queue = runtime.settings.queue_name
    thread_id = client.post("/threads", json={}).get_json()["thread_id"]
    first = _create(client, thread_id, "ledger", {"echo": 1})
    second = _create(client, thread_id, "ledger", {"echo": 2})
    assert queued(runtime.redis, queue) == [(first["run_id"], 1), (second["run_id"], 1)]

    client.post(f"/threads/{thread_id}/runs/{first['run_id']}/cancel")
    assert queued(runtime.redis, queue)[-1] == (second["run_id"], 1)

    drain(runtime.actor.broker, queue, execute_run)
    assert executions(ledger) == {second["run_id"]: 1}
    assert _get(runtime.db, first["run_id"])["status"] == RunStatus.INTERRUPTED
    assert _get(runtime.db, second["run_id"])["status"] == RunStatus.SUCCESS


def test_cancel_of_a_running_run_stops_it_quickly(client, runtime):
    db = runtime.db
    thread_id = client.post("/threads", json={}).get_json()["thread_id"]
    run = _create(client, thread_id, "sleeper", {"seconds": 30})
    run_id = uuid.UUID(run["run_id"])

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(execute_run, run["run_id"], 1)
        try:
            wait_for(
                lambda: run_id in runtime.executor.active_run_ids,
                timeout=10,
                what="the sleeper running on the executor",
            )
            assert _get(db, run_id)["status"] == RunStatus.RUNNING
            response = client.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel")
            assert response.status_code == 202
            future.result(timeout=10)  # the graph sleeps 30 s: stopped, not run to its end
        finally:
            runtime.executor.stop(run_id, StopReason.SHUTDOWN)  # never wait out the 30 s

    row = _get(db, run_id)
    assert row["status"] == RunStatus.INTERRUPTED
    assert row["error"]["error"] == "UserInterrupt"
    assert row["attempt"] == 1 and row["claim_token"] is not None
    assert thread_store.get(db, uuid.UUID(thread_id))["status"] == "interrupted"


# --- one running run per thread, in creation order ---------------------------------------------


def test_a_later_run_of_a_busy_thread_cannot_be_claimed(db):
    thread_id = new_thread(db)
    first = new_run(db, thread_id)
    second = new_run(db, thread_id)
    assert run_store.claim(db, second["run_id"], 1, "w") is None  # the earlier one is pending
    claim = run_store.claim(db, first["run_id"], 1, "w")
    assert claim is not None
    assert run_store.claim(db, second["run_id"], 1, "w") is None  # the earlier one is running
    assert _get(db, second["run_id"]) == second

    run_store.finish(db, claim, RunStatus.SUCCESS, output={})
    assert run_store.claim(db, second["run_id"], 1, "w") is not None


def test_partial_unique_index_forbids_two_running_runs_of_a_thread(db):
    thread_id = new_thread(db)
    first = new_run(db, thread_id)
    second = new_run(db, thread_id)
    assert run_store.claim(db, first["run_id"], 1, "w") is not None
    force_running = (
        "UPDATE runs SET status = 'running', claim_token = gen_random_uuid(), claimed_at = now() "
        "WHERE run_id = %(r)s"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        sql(db, force_running, {"r": second["run_id"]})
    assert _get(db, second["run_id"]) == second


def test_claim_that_breaks_the_unique_index_is_lost_not_raised(db):
    # the order check cannot see a LATER run running; the index still refuses the claim
    thread_id = new_thread(db)
    earlier = new_run(db, thread_id)
    later = new_run(db, thread_id)
    sql(
        db,
        "UPDATE runs SET status = 'running', claim_token = gen_random_uuid(), "
        "claimed_at = now() WHERE run_id = %(r)s",
        {"r": later["run_id"]},
    )
    assert run_store.claim(db, earlier["run_id"], 1, "w") is None
    assert _get(db, earlier["run_id"]) == earlier
    running = sql(
        db,
        "SELECT run_id FROM runs WHERE thread_id = %(t)s AND status = 'running'",
        {"t": thread_id},
    )
    assert [r["run_id"] for r in running] == [later["run_id"]]


def test_runs_of_a_thread_execute_in_creation_order_each_waking_the_next(client, runtime, ledger):
    queue = runtime.settings.queue_name
    broker = runtime.actor.broker
    thread_id = client.post("/threads", json={}).get_json()["thread_id"]
    ids = [_create(client, thread_id, "ledger", {"echo": i})["run_id"] for i in range(3)]
    assert queued(runtime.redis, queue) == [(i, 1) for i in ids]

    # the messages of the later runs arrive first: refused (the thread is not theirs yet), acked
    execute_run(ids[2], 1)
    execute_run(ids[1], 1)
    assert executions(ledger) == {}
    assert [_get(runtime.db, i)["status"] for i in ids] == ["pending"] * 3

    # a worker consumes the queue: the first runs, and each run's end re-sends the next one's
    handled = drain(broker, queue, execute_run)
    assert handled == [
        (ids[0], 1),
        (ids[1], 1),
        (ids[2], 1),  # the creation messages
        (ids[1], 1),  # sent when ids[0] finished
        (ids[2], 1),  # sent when ids[1] finished
    ]
    starts = [r[0] for r in read_ledger(ledger) if r[3] == "start"]
    assert starts == ids
    for run_id in ids:
        row = _get(runtime.db, run_id)
        assert row["status"] == RunStatus.SUCCESS and row["attempt"] == 1
    assert queued(runtime.redis, queue) == []


# --- checkpoint writes are fenced by the lease -------------------------------------------------


def test_attempt_that_lost_its_lease_writes_no_checkpoint_and_is_discarded(runtime, ledger):
    db = runtime.db
    run = new_run(db, input={"sleep": 0.5})
    thread_id = run["thread_id"]
    claim = run_store.claim(db, run["run_id"], 1, "w")

    # the executor alone, without the heartbeat thread (which would stop the attempt): the
    # attempt runs to its end, and only the checkpoint fence stands between it and the thread
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(runtime.executor.execute, claim, 30)
        wait_for(lambda: executions(ledger), timeout=10, what="the graph started")
        requeued = run_store.requeue(db, claim, reason="heartbeat lapsed", max_attempts=3)
        assert requeued["status"] == RunStatus.PENDING
        checkpoints = checkpoint_count(db, thread_id)
        writes = checkpoint_write_count(db, thread_id)
        outcome = future.result(timeout=10)

    assert [r[3] for r in read_ledger(ledger)] == ["start", "end"]  # the graph did finish
    assert outcome.verdict == Verdict.DISCARD
    assert checkpoint_count(db, thread_id) == checkpoints
    assert checkpoint_write_count(db, thread_id) == writes
    assert run_store.finish(db, claim, RunStatus.SUCCESS, output={"late": True}) is None
    settle(runtime, claim, outcome)
    assert _get(db, run["run_id"]) == requeued
    assert thread_store.get(db, thread_id)["values"] is None

    # the control: the same graph with its lease kept writes its final checkpoint
    execute_run(str(run["run_id"]), requeued["version"])
    assert _get(db, run["run_id"])["status"] == RunStatus.SUCCESS
    assert checkpoint_count(db, thread_id) > checkpoints


def test_worker_whose_run_is_requeued_stops_and_discards(runtime, ledger):
    db = runtime.db
    run = new_run(db, input={"sleep": 30})
    run_id = run["run_id"]
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(execute_run, str(run_id), 1)
        try:
            wait_for(lambda: executions(ledger), timeout=10, what="the graph started")
            row = _get(db, run_id)
            claim = run_store.Claim(run=row, claim_token=row["claim_token"], version=row["version"])
            requeued = run_store.requeue(db, claim, reason="heartbeat lapsed", max_attempts=3)
            assert requeued["status"] == RunStatus.PENDING
            # a write that held the lease committed before the requeue could take the row
            checkpoints = checkpoint_count(db, run["thread_id"])
            future.result(timeout=10)  # the heartbeat's lease check stops the attempt
        finally:
            runtime.executor.stop(run_id, StopReason.SHUTDOWN)

    assert [r[3] for r in read_ledger(ledger)] == ["start"]
    assert _get(db, run_id) == requeued  # the stale attempt wrote nothing
    assert checkpoint_count(db, run["thread_id"]) == checkpoints
    assert queued(runtime.redis, runtime.settings.queue_name) == []  # and sent nothing


def test_a_run_whose_cancel_was_asked_is_not_run_again_when_its_attempt_is_lost(db):
    """Requeue (a crashed worker, a shutdown) of a run with a recorded cancel ends it as
    interrupted: running it again would undo the cancel."""
    from app.store.cancels import request_cancel
    from app.store.runs import claim, requeue

    run = new_run(db)
    won = claim(db, run["run_id"], 1, "w1")
    assert won is not None
    assert request_cancel(db, run["run_id"], run["thread_id"], "interrupt") is not None
    row = requeue(db, won, reason="heartbeat lapsed", max_attempts=3)
    assert row["status"] == "interrupted" and row["ended_at"] is not None
    assert row["error"]["error"] == "UserInterrupt"
    assert "heartbeat lapsed" in row["error"]["message"]
    assert claim(db, run["run_id"], row["version"], "w2") is None
