"""The sweeper and time (issue 11, item 8): it pages past live runs, and it reads the time from
the database, whose timestamps it compares, never from its host's clock."""

from __future__ import annotations

import datetime
import types
from typing import Any

import pytest

from app.notify import heartbeat_key
from app.runs import RunStatus
from app.store import runs as run_store
from sweeper import __main__ as sweeper_main
from sweeper import jobs
from tests.integration.run_helpers import db_now, new_run, sql


def _claimed(db: Any, minutes_ago: int) -> run_store.Claim:
    run = new_run(db)
    claim = run_store.claim(db, run["run_id"], 1, "w")
    assert claim is not None
    sql(
        db,
        "UPDATE runs SET claimed_at = now() - make_interval(mins => %(m)s) "
        "WHERE run_id = %(r)s RETURNING 1",
        {"m": minutes_ago, "r": claim.run_id},
    )
    return claim


def test_a_dead_run_behind_a_page_of_live_ones_is_requeued(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More long live runs than one page (``BATCH``, 2 here) claimed before a dead one: the
    sweeper looks past them (before the fix it read the first page only, every tick)."""
    db, client = runtime.db, runtime.redis
    client.set(jobs.REDIS_EPOCH_KEY, 0)
    monkeypatch.setattr(jobs, "BATCH", 2)
    live = [_claimed(db, minutes_ago=60 - i) for i in range(5)]
    for claim in live:
        client.set(heartbeat_key(claim.run_id, claim.claim_token), "w", px=600_000)
    dead = _claimed(db, minutes_ago=30)
    report = jobs.requeue_stale_runs(
        db, client, runtime.actor, db_now(db), window=5.0, max_attempts=3
    )
    assert (report.stale, report.requeued) == (6, 1)
    assert run_store.get(db, dead.run_id)["status"] == RunStatus.PENDING
    assert {run_store.get(db, c.run_id)["status"] for c in live} == {RunStatus.RUNNING}


def test_the_sweepers_jobs_are_given_the_databases_time(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host whose clock is an hour ahead: each job still gets the database's ``now()``
    (before the fix it got the host's clock, so it requeued live runs, re-sent early, fired
    crons and expired threads an hour early)."""
    skewed = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)

    class SkewedDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # noqa: ARG003 - the host's (skewed) clock
            return skewed

    fake = types.SimpleNamespace(datetime=SkewedDatetime, UTC=datetime.UTC)
    monkeypatch.setattr(sweeper_main, "datetime", fake)
    seen: list[datetime.datetime] = []
    sweeper_main.run_job(runtime.db, "test", seen.append)
    before = db_now(runtime.db)
    assert len(seen) == 1
    assert abs((seen[0] - before).total_seconds()) < 600  # an hour off before the fix
