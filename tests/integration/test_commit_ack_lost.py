"""A COMMIT whose acknowledgement is lost (issue 11, item 6): the connection breaks after
Postgres committed, the store retries the whole unit of work, and the retry must neither do the
work twice nor take its own committed write for a lost race and skip what follows it.

``lose_commit_ack`` makes the first try of one named unit of work (``Database.run``'s ``what``)
raise the ``OperationalError`` a dropped connection raises, after its work committed."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from app.runs import RunStatus
from app.store import runs as run_store
from app.store.db import Database
from sweeper.jobs import REDIS_EPOCH_KEY, requeue_stale_runs
from tests.integration.run_helpers import db_now, new_run, new_thread, queued, sql
from workers.actors.execute_run import execute_run, settle
from workers.executor import Outcome, Verdict


def lose_commit_ack(monkeypatch: pytest.MonkeyPatch, what: str) -> list[str]:
    """Patch ``Database.run`` so that the first try of ``what`` fails after its work returned
    (committed). Returns a list that gets ``what`` appended when the fault fired."""
    real = Database.run
    fired: list[str] = []

    def run(self: Database, work: Any, name: str) -> Any:
        def flaky(conn: Any) -> Any:
            result = work(conn)
            if name == what and not fired:
                fired.append(name)
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return result

        return real(self, flaky, name)

    monkeypatch.setattr(Database, "run", run)
    return fired


def _claim(db: Database, thread_id: uuid.UUID | None = None) -> run_store.Claim:
    run = new_run(db, thread_id)
    claim = run_store.claim(db, run["run_id"], 1, "w")
    assert claim is not None
    return claim


def test_a_hand_back_whose_commit_ack_was_lost_still_sends_the_runs_message(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = runtime.db
    claim = _claim(db)
    fired = lose_commit_ack(monkeypatch, "requeue_run")
    settle(runtime, claim, Outcome(Verdict.REQUEUE, error={"error": "X", "message": "transient"}))
    assert fired == ["requeue_run"]
    row = run_store.get(db, claim.run_id)
    assert row["status"] == RunStatus.PENDING and row["version"] == claim.version + 1
    assert queued(runtime.redis, runtime.settings.queue_name) == [
        (str(claim.run_id), row["version"])
    ]


def test_a_rollback_whose_commit_ack_was_lost_still_wakes_the_next_run(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = runtime.db
    thread_id = new_thread(db)
    claim = _claim(db, thread_id)
    following = new_run(db, thread_id)
    fired = lose_commit_ack(monkeypatch, "rollback_run")
    settle(runtime, claim, Outcome(Verdict.ROLLBACK))
    assert fired == ["rollback_run"]
    assert run_store.get(db, claim.run_id) is None
    assert queued(runtime.redis, runtime.settings.queue_name) == [
        (str(following["run_id"]), following["version"])
    ]


def test_a_sweeper_requeue_whose_commit_ack_was_lost_still_sends_the_runs_message(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = runtime.db
    runtime.redis.set(REDIS_EPOCH_KEY, 0)  # Redis has kept its keys "forever"
    claim = _claim(db)
    sql(db, "UPDATE runs SET claimed_at = claimed_at - interval '1 hour' RETURNING 1")
    fired = lose_commit_ack(monkeypatch, "requeue_lapsed_run")
    report = requeue_stale_runs(
        db, runtime.redis, runtime.actor, db_now(db), window=5.0, max_attempts=3
    )
    assert fired == ["requeue_lapsed_run"]
    assert report.requeued == 1
    row = run_store.get(db, claim.run_id)
    assert row["status"] == RunStatus.PENDING
    assert queued(runtime.redis, runtime.settings.queue_name) == [
        (str(claim.run_id), row["version"])
    ]


def test_a_state_update_whose_commit_ack_was_lost_is_written_once(
    client: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    body = {"assistant_id": "accumulate", "input": {"numbers": [1, 2]}}
    run = client.post(f"/threads/{tid}/runs", json=body).get_json()
    execute_run(run["run_id"], 1)
    history = client.get(f"/threads/{tid}/history").get_json()
    fired = lose_commit_ack(monkeypatch, "update_thread_state")
    response = client.post(f"/threads/{tid}/state", json={"values": {"numbers": [5]}})
    assert response.status_code == 200, response.get_json()
    assert fired == ["update_thread_state"]
    assert client.get(f"/threads/{tid}/state").get_json()["values"]["numbers"] == [1, 2, 5]
    assert len(client.get(f"/threads/{tid}/history").get_json()) == len(history) + 1


@pytest.mark.parametrize("bulk", [True, False])
def test_a_cancel_whose_commit_ack_was_lost_answers_as_the_cancel_it_made(
    client: Any, runtime: Any, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    """The retry finds nothing left to cancel: its own first try cancelled it. The answer is the
    cancel's (before the fix: 404 after cancelling)."""
    tid = client.post("/threads", json={}).get_json()["thread_id"]
    run = client.post(f"/threads/{tid}/runs", json={"assistant_id": "noop"}).get_json()
    fired = lose_commit_ack(monkeypatch, "cancel_runs")
    if bulk:
        body = {"thread_id": tid, "run_ids": [run["run_id"]]}
        response = client.post("/runs/cancel", json=body)
        assert response.status_code == 204, response.get_json()
    else:
        response = client.post(f"/threads/{tid}/runs/{run['run_id']}/cancel")
        assert response.status_code == 202, response.get_json()
    assert fired == ["cancel_runs"]
    assert client.get(f"/threads/{tid}/runs/{run['run_id']}").get_json()["status"] == "interrupted"
