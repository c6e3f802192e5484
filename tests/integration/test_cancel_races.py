"""Cancels that were lost or misread (issue 11, item 7): a rollback asked of a run whose worker
died, and a cancel whose runs move running → pending while it is being recorded."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.runs import RunStatus
from app.store import cancels as cancel_store
from app.store import runs as run_store
from app.store.db import QUERIES, Database
from sweeper.jobs import REDIS_EPOCH_KEY, requeue_stale_runs
from tests.integration.run_helpers import db_now, new_run, new_thread, queued, sql
from tests.support import wait_for
from workers.actors.execute_run import settle
from workers.executor import Outcome, Verdict


def _claimed(db: Database, thread_id: uuid.UUID) -> run_store.Claim:
    run = new_run(db, thread_id)
    claim = run_store.claim(db, run["run_id"], 1, "w-gone")
    assert claim is not None
    return claim


def _write_checkpoint_row(db: Database, thread_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """A checkpoint the run wrote (as LangGraph's saver stores it, with the run's id in its
    metadata): a rollback deletes it."""
    sql(
        db,
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, checkpoint, metadata) "
        "VALUES (%(t)s, '', %(c)s, '{}'::jsonb, jsonb_build_object('run_id', %(r)s::text)) "
        "RETURNING 1",
        {"t": str(thread_id), "c": str(uuid.uuid4()), "r": str(run_id)},
    )


def _checkpoints(db: Database, thread_id: uuid.UUID) -> int:
    rows = sql(
        db, "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %(t)s", {"t": str(thread_id)}
    )
    return rows[0]["n"]


@pytest.mark.parametrize("who", ["sweeper", "worker"])
def test_a_rollback_of_a_run_whose_attempt_is_lost_deletes_it(runtime: Any, who: str) -> None:
    """The attempt that should have carried out a ``rollback`` cancel is gone (its worker died:
    the sweeper requeues it; or it failed transiently: its worker hands it back): the run is
    deleted with what it wrote, and the next run of the thread is woken (before the fix any
    ``cancel_action`` became ``interrupted``: the checkpoints promised deleted stayed, and the
    next run executed on them)."""
    db = runtime.db
    thread_id = new_thread(db)
    claim = _claimed(db, thread_id)
    following = new_run(db, thread_id)
    _write_checkpoint_row(db, thread_id, claim.run_id)
    assert cancel_store.request_cancel(db, claim.run_id, thread_id, "rollback") is not None
    if who == "sweeper":
        runtime.redis.set(REDIS_EPOCH_KEY, 0)
        sql(db, "UPDATE runs SET claimed_at = claimed_at - interval '1 hour' RETURNING 1")
        requeue_stale_runs(db, runtime.redis, runtime.actor, db_now(db), window=5, max_attempts=3)
    else:
        settle(runtime, claim, Outcome(Verdict.REQUEUE, error={"error": "X", "message": "t"}))
    assert run_store.get(db, claim.run_id) is None
    assert _checkpoints(db, thread_id) == 0
    assert queued(runtime.redis, runtime.settings.queue_name) == [
        (str(following["run_id"]), following["version"])
    ]


def _waiting_on_a_lock(db: Database) -> bool:
    rows = sql(
        db,
        "SELECT count(*) AS n FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    return rows[0]["n"] > 0


def test_a_cancel_is_not_lost_when_its_run_is_handed_back_meanwhile(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel's statements for pending and for running runs are two: a run handed back
    (running → pending) between them was seen by neither, so the cancel answered 202 and the run
    executed again. The hand-back is made here, on another connection, exactly between them."""
    db = runtime.db
    claim = _claimed(db, new_thread(db))
    other = Database(runtime.settings.database_url, max_size=2)
    real_run = Database.run
    interleaved = threading.Event()

    class Conn:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            if query == QUERIES["request_cancel_runs"] and not interleaved.is_set():
                interleaved.set()
                hand_back = pool.submit(
                    run_store.requeue, other, claim, reason="transient", max_attempts=3
                )
                wait_for(
                    lambda: hand_back.done() or _waiting_on_a_lock(other),
                    timeout=10,
                    what="the hand-back done, or waiting for the cancel's lock",
                )
            return self.conn.execute(query, *args, **kwargs)

    def run(self: Database, work: Any, what: str) -> Any:
        if what != "cancel_runs":
            return real_run(self, work, what)
        return real_run(self, lambda conn: work(Conn(conn)), what)

    try:
        with ThreadPoolExecutor(1) as pool:
            monkeypatch.setattr(Database, "run", run)
            cancel_store.cancel(db, action="interrupt", run_ids=[claim.run_id])
            monkeypatch.undo()
            assert interleaved.is_set()
    finally:
        other.close()
    row = run_store.get(db, claim.run_id)
    assert row["status"] == RunStatus.INTERRUPTED, row["status"]
    assert run_store.claim(db, claim.run_id, row["version"], "w2") is None


# --- the TTL sweep and a run created at the same moment (issue 11, item 9) ----------------------


def test_a_thread_expiring_as_a_run_is_created_keeps_the_run_or_refuses_it(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep locks the expired threads, then deletes them with the check for unfinished runs
    made again in a statement of its own. A run created between the two waits for the lock and
    is refused (no thread), never committed and then deleted with the thread (before the fix
    one statement judged 'no unfinished run' from a snapshot older than its lock)."""
    from app.errors import NotFound
    from app.store import threads as thread_store

    db = runtime.db
    thread_id = new_thread(db)
    sql(
        db,
        "UPDATE threads SET expires_at = now() - interval '1 minute', ttl_strategy = 'delete', "
        "ttl_minutes = 1 WHERE thread_id = %(t)s RETURNING 1",
        {"t": thread_id},
    )
    other = Database(runtime.settings.database_url, max_size=2)
    real_run = Database.run
    created: list[Any] = []

    class Conn:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self.conn, name)

        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            if query == QUERIES["delete_expired_threads"] and not created:
                created.append(pool.submit(new_run, other, thread_id))
                wait_for(
                    lambda: created[0].done() or _waiting_on_a_lock(other),
                    timeout=10,
                    what="the run's insert done, or waiting for the sweep's lock",
                )
            return self.conn.execute(query, *args, **kwargs)

    def run(self: Database, work: Any, what: str) -> Any:
        if what != "delete_expired_threads":
            return real_run(self, work, what)
        return real_run(self, lambda conn: work(Conn(conn)), what)

    try:
        with ThreadPoolExecutor(1) as pool:
            monkeypatch.setattr(Database, "run", run)
            deleted = thread_store.delete_expired(db, db_now(db), 10)
            monkeypatch.undo()
            assert created, "the run was not created between the lock and the delete"
            with pytest.raises(NotFound):
                created[0].result(timeout=10)
    finally:
        other.close()
    assert deleted == [str(thread_id)]
    assert sql(db, "SELECT count(*) AS n FROM runs WHERE thread_id = %(t)s", {"t": thread_id}) == [
        {"n": 0}
    ]
