"""The sweeper's jobs (``sweeper/jobs.py``), called directly with ``now`` on the real Postgres and
Redis: requeue of runs whose heartbeat lapsed, re-send of pending runs whose message may be lost,
and the races of several sweepers.

"Time passes" by moving ``claimed_at``/``updated_at`` back in the database (its clock is the one
the protocol uses), never by sleeping.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.notify import RUN_DONE, channel, heartbeat_key, make_redis
from app.queue import declare_execute_run, make_broker
from app.runs import RunStatus
from app.store import runs as run_store
from app.store import threads as thread_store
from app.store.db import Database
from sweeper.jobs import (
    REDIS_EPOCH_KEY,
    SWEEPER_LOCK_KEY,
    redis_uptime_seconds,
    requeue_stale_runs,
    resend_pending_runs,
    sweep,
)
from tests.integration.run_helpers import db_now, new_run, new_thread, queued, sql
from tests.support import wait_for

WINDOW = 5.0  # heartbeat window of these tests (seconds)
INTERVAL = 60.0  # re-send interval of these tests (seconds)


@pytest.fixture
def db(settings) -> Iterator[Database]:
    database = Database(settings.database_url, max_size=12)
    yield database
    database.close()


@pytest.fixture
def rclient(settings):
    client = make_redis(settings.redis_url)
    # the test's Redis DB was just flushed; these tests act as if its keys were kept since the
    # server started (the flush guard has tests of its own in tests/acceptance/test_resilience.py)
    client.set(REDIS_EPOCH_KEY, 0)
    yield client
    client.close()


@pytest.fixture
def actor(settings):
    broker = make_broker(settings)
    yield declare_execute_run(broker, queue_name=settings.queue_name)
    broker.close()


@pytest.fixture
def queue(settings, rclient):
    return lambda: queued(rclient, settings.queue_name)


def _get(db: Database, run_id: uuid.UUID) -> dict:
    row = run_store.get(db, run_id)
    assert row is not None
    return row


def _claimed(db: Database, thread_id: uuid.UUID | None = None, *, age: float = 0.0):
    """A running run (claimed by a worker that never beat), claimed ``age`` seconds ago."""
    run = new_run(db, thread_id)
    claim = run_store.claim(db, run["run_id"], 1, "w-gone")
    assert claim is not None
    if age:
        _age_claim(db, claim.run_id, age)
    return claim


def _age_claim(db: Database, run_id: uuid.UUID, seconds: float) -> None:
    sql(
        db,
        "UPDATE runs SET claimed_at = claimed_at - make_interval(secs => %(s)s) "
        "WHERE run_id = %(r)s",
        {"s": seconds, "r": run_id},
    )


def _age_pending(db: Database, run_id: uuid.UUID, seconds: float) -> None:
    sql(
        db,
        "UPDATE runs SET updated_at = updated_at - make_interval(secs => %(s)s) "
        "WHERE run_id = %(r)s",
        {"s": seconds, "r": run_id},
    )


def _requeue(db, rclient, actor, now, *, window=WINDOW, max_attempts=3):
    return requeue_stale_runs(db, rclient, actor, now, window=window, max_attempts=max_attempts)


# --- requeue_stale_runs ------------------------------------------------------------------------


def test_requeues_a_lapsed_run_and_leaves_beating_and_young_ones(db, rclient, actor, queue):
    assert redis_uptime_seconds(rclient) >= WINDOW  # else the job rightly refuses to act
    lapsed = _claimed(db, age=WINDOW * 2)
    beating = _claimed(db, age=WINDOW * 2)
    rclient.set(heartbeat_key(beating.run_id, beating.claim_token), "w-alive", px=60_000)
    young = _claimed(db)  # claimed less than a window ago, no key (yet)
    before = {c.run_id: _get(db, c.run_id) for c in (beating, young)}

    report = _requeue(db, rclient, actor, db_now(db))

    assert (report.stale, report.requeued, report.failed) == (2, 1, 0)
    row = _get(db, lapsed.run_id)
    assert row["status"] == RunStatus.PENDING
    assert row["version"] == lapsed.version + 1
    assert row["attempt"] == 1 and row["claim_token"] is None
    assert thread_store.get(db, lapsed.thread_id)["status"] == "busy"
    assert queue() == [(str(lapsed.run_id), row["version"])]  # re-sent after COMMIT
    for run_id, was in before.items():
        assert _get(db, run_id) == was

    # a heartbeat key of an OLD claim of the run does not keep the new claim alive
    reclaim = run_store.claim(db, lapsed.run_id, row["version"], "w-2")
    _age_claim(db, lapsed.run_id, WINDOW * 2)
    rclient.set(heartbeat_key(lapsed.run_id, lapsed.claim_token), "w-gone", px=60_000)
    report = _requeue(db, rclient, actor, db_now(db))
    assert report.requeued == 1
    assert _get(db, lapsed.run_id)["version"] == reclaim.version + 1


def test_does_nothing_while_redis_is_younger_than_the_window(db, rclient, actor, queue):
    lapsed = _claimed(db, age=WINDOW * 2)
    before = _get(db, lapsed.run_id)
    huge = redis_uptime_seconds(rclient) + 3600.0
    # the run is lapsed by any measure: claimed more than a (huge) window before ``now``
    now = db_now(db) + datetime.timedelta(seconds=huge * 2)

    report = _requeue(db, rclient, actor, now, window=huge)
    assert report.redis_young is True
    assert (report.stale, report.requeued, report.failed) == (0, 0, 0)
    assert _get(db, lapsed.run_id) == before
    assert queue() == []

    # the control: with a window Redis has outlived, the same run is requeued
    assert _requeue(db, rclient, actor, db_now(db)).requeued == 1


def test_lapsed_run_with_no_attempt_left_ends_as_error_and_wakes_the_next(
    db, rclient, actor, queue
):
    thread_id = new_thread(db)
    lapsed = _claimed(db, thread_id, age=WINDOW * 2)
    waiting = new_run(db, thread_id)  # created after it: its turn comes when it ends
    pubsub = rclient.pubsub()
    try:
        pubsub.subscribe(channel(rclient, RUN_DONE))
        confirmed = wait_for(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="subscribed")
        assert confirmed["type"] == "subscribe"

        report = _requeue(db, rclient, actor, db_now(db), max_attempts=1)

        assert (report.requeued, report.failed) == (0, 1)
        row = _get(db, lapsed.run_id)
        assert row["status"] == RunStatus.ERROR and row["ended_at"] is not None
        assert row["error"]["error"] == "MaxAttemptsExceeded"
        assert "gave up after 1 attempts" in row["error"]["message"]
        assert "heartbeat lapsed" in row["error"]["message"]
        thread = thread_store.get(db, thread_id)
        assert thread["status"] == "error" and thread["error"] == row["error"]
        assert queue() == [(str(waiting["run_id"]), 1)]
        announced: list[str] = []

        def announced_end() -> bool:
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                announced.append(message["data"].decode())
            return str(lapsed.run_id) in announced

        wait_for(announced_end, timeout=5, what="the run-done notification")
    finally:
        pubsub.close()

    # the woken run can be claimed: the thread is free
    assert run_store.claim(db, waiting["run_id"], 1, "w") is not None


def test_two_sweepers_requeue_each_lapsed_run_once(db, rclient, actor, queue, settings):
    claims = [_claimed(db, age=WINDOW * 2) for _ in range(20)]
    other_db = Database(settings.database_url, max_size=4)
    other_redis = make_redis(settings.redis_url)
    barrier = threading.Barrier(2)
    now = db_now(db)

    def sweeper(database: Database, client) -> int:
        barrier.wait(timeout=10)
        return _requeue(database, client, actor, now).requeued

    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [
                pool.submit(sweeper, db, rclient),
                pool.submit(sweeper, other_db, other_redis),
            ]
            requeued = [f.result(timeout=30) for f in futures]
    finally:
        other_db.close()
        other_redis.close()

    assert sum(requeued) == len(claims)
    expected = []
    for claim in claims:
        row = _get(db, claim.run_id)
        assert row["status"] == RunStatus.PENDING
        assert row["version"] == claim.version + 1  # one transition, not two
        assert row["attempt"] == 1
        expected.append((str(claim.run_id), claim.version + 1))
    assert sorted(queue()) == sorted(expected)  # one message per run


def test_sweep_is_skipped_while_another_sweeper_holds_the_lock(db, rclient, actor, settings):
    lapsed = _claimed(db, age=WINDOW * 2)
    before = _get(db, lapsed.run_id)
    kwargs = dict(window=WINDOW, interval=INTERVAL, max_attempts=3)
    other = Database(settings.database_url, max_size=1)
    try:
        with other.connection() as conn, conn.transaction():
            held = conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s) AS locked", (SWEEPER_LOCK_KEY,)
            ).fetchone()
            assert held["locked"]
            report = sweep(db, rclient, actor, db_now(db), **kwargs)
            assert report.skipped is True
            assert _get(db, lapsed.run_id) == before
    finally:
        other.close()
    report = sweep(db, rclient, actor, db_now(db), **kwargs)
    assert report.skipped is False and report.requeued == 1


# --- resend_pending_runs -----------------------------------------------------------------------


def test_resends_lost_pending_runs_at_most_once_per_interval(db, actor, queue):
    old = new_run(db)
    _age_pending(db, old["run_id"], INTERVAL * 2)
    fresh = new_run(db)  # its creation message is recent: not lost as far as anyone can tell
    thread_id = new_thread(db)
    head = new_run(db, thread_id)
    behind = new_run(db, thread_id)  # not its turn: the head's end will wake it
    running = _claimed(db, age=INTERVAL * 2)
    for run in (head, behind):
        _age_pending(db, run["run_id"], INTERVAL * 2)
    _age_pending(db, running.run_id, INTERVAL * 2)

    now = db_now(db)
    report = resend_pending_runs(db, actor, now, interval=INTERVAL)
    assert report.resent == 2
    first = [(str(old["run_id"]), 1), (str(head["run_id"]), 1)]
    assert sorted(queue()) == sorted(first)

    # again within the interval: nothing more, however often the sweeper ticks
    for _ in range(3):
        assert resend_pending_runs(db, actor, db_now(db), interval=INTERVAL).resent == 0
    assert sorted(queue()) == sorted(first)
    assert _get(db, fresh["run_id"])["resent_at"] is None
    assert _get(db, behind["run_id"])["resent_at"] is None

    # one interval later, still pending: a message still waiting in the queue is not doubled
    # (a healthy backlog); fresh, whose message is nowhere, gets one
    later = db_now(db) + datetime.timedelta(seconds=INTERVAL + 1)
    report = resend_pending_runs(db, actor, later, interval=INTERVAL)
    assert (report.resent, report.waiting) == (1, 2)
    assert sorted(queue()) == sorted(first + [(str(fresh["run_id"]), 1)])

    # the queue lost its messages (a Redis flush): one interval later, one more message each
    actor.broker.flush(actor.queue_name)
    later += datetime.timedelta(seconds=INTERVAL + 1)
    assert resend_pending_runs(db, actor, later, interval=INTERVAL).resent == 3
    assert sorted(queue()) == sorted(first + [(str(fresh["run_id"]), 1)])


def test_two_sweepers_resend_each_pending_run_once(db, actor, queue, settings):
    runs = [new_run(db) for _ in range(30)]
    sql(db, "UPDATE runs SET updated_at = now() - interval '1 hour'")
    other_db = Database(settings.database_url, max_size=4)
    barrier = threading.Barrier(2)
    now = db_now(db)

    def sweeper(database: Database) -> int:
        barrier.wait(timeout=10)
        return resend_pending_runs(database, actor, now, interval=INTERVAL).resent

    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(sweeper, db), pool.submit(sweeper, other_db)]
            resent = [f.result(timeout=30) for f in futures]
    finally:
        other_db.close()

    assert sum(resent) == len(runs)
    assert sorted(queue()) == sorted((str(r["run_id"]), 1) for r in runs)
