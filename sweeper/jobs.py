"""The sweeper's jobs: plain functions of ``now`` that return counts (River's ``runOnce``,
RQ's ``cleanup(timestamp)``), so tests call them directly.

- ``requeue_stale_runs``: running runs whose heartbeat lapsed go back to pending (or end as error
  when their attempts are used up); never while Redis has been up for less than one window,
  because a restarted Redis has lost every heartbeat key at once.
- ``resend_pending_runs``: pending runs whose message may be lost (Redis flushed, a crash between
  COMMIT and send) get one more message per interval.

Several sweepers may run: every change is a conditional UPDATE, and ``sweep`` takes a
transaction-scoped advisory lock so that only one does the work of a tick.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import dramatiq
import redis

from app.notify import heartbeat_key
from app.runs import RunStatus
from app.store import runs as run_store
from app.store.db import QUERIES, Database
from workers.broker import send_execute_run
from workers.lifecycle import after_run_end

logger = logging.getLogger(__name__)

SWEEPER_LOCK_KEY = 0x43425357  # "CBSW"
BATCH = 1000


@dataclass
class SweepReport:
    """What one tick did (counts of runs)."""

    skipped: bool = False  # another sweeper held the lock
    stale: int = 0  # running runs past the window that were looked at
    requeued: int = 0  # handed back to pending and re-sent
    failed: int = 0  # ended as error: no attempt left
    resent: int = 0  # pending runs whose message was sent again
    redis_young: bool = False  # Redis restarted less than one window ago: no requeue


def redis_uptime_seconds(client: redis.Redis) -> float:
    return float(client.info("server")["uptime_in_seconds"])


def requeue_stale_runs(
    db: Database,
    client: redis.Redis,
    actor: dramatiq.Actor,
    now: datetime.datetime,
    *,
    window: float,
    max_attempts: int,
    report: SweepReport | None = None,
) -> SweepReport:
    """Requeue running runs claimed before ``now - window`` whose heartbeat key is missing.

    Parameters:
        window: the heartbeat window in seconds.
    """
    report = report or SweepReport()
    if redis_uptime_seconds(client) < window:
        report.redis_young = True
        return report
    claimed_before = now - datetime.timedelta(seconds=window)
    stale = db.fetch("find_stale_runs", {"claimed_before": claimed_before, "limit": BATCH})
    report.stale = len(stale)
    if not stale:
        return report
    pipe = client.pipeline(transaction=False)
    for row in stale:
        pipe.exists(heartbeat_key(row["run_id"], row["claim_token"]))
    alive = pipe.execute()
    for row, beating in zip(stale, alive, strict=True):
        if beating:
            continue
        moved = run_store.requeue_by_token(
            db,
            run_id=row["run_id"],
            claim_token=row["claim_token"],
            version=row["version"],
            reason=f"heartbeat lapsed (worker {row['worker_id']})",
            max_attempts=max_attempts,
        )
        if moved is None:
            continue  # finished or requeued by someone else meanwhile
        if moved["status"] == RunStatus.PENDING:
            report.requeued += 1
            logger.warning(
                "run %r: heartbeat lapsed, requeued (attempt %d of %d used)",
                str(row["run_id"]),
                row["attempt"],
                max_attempts,
            )
            send_execute_run(actor, moved["run_id"], moved["version"])
        else:
            report.failed += 1
            logger.error("run %r: heartbeat lapsed with no attempt left: error", str(row["run_id"]))
            after_run_end(db, client, actor, moved)
    return report


def resend_pending_runs(
    db: Database,
    actor: dramatiq.Actor,
    now: datetime.datetime,
    *,
    interval: float,
    report: SweepReport | None = None,
) -> SweepReport:
    """Send one more message for pending runs untouched for ``interval`` seconds."""
    report = report or SweepReport()
    older_than = now - datetime.timedelta(seconds=interval)
    rows = db.fetch("mark_pending_runs_resent", {"older_than": older_than, "limit": BATCH})
    for row in rows:
        send_execute_run(actor, row["run_id"], row["version"])
    report.resent = len(rows)
    return report


def sweep(
    db: Database,
    client: redis.Redis,
    actor: dramatiq.Actor,
    now: datetime.datetime,
    *,
    window: float,
    interval: float,
    max_attempts: int,
) -> SweepReport:
    """One tick: both jobs, under the sweeper's advisory lock (skipped if another holds it)."""

    def tick(conn: object) -> SweepReport:
        with conn.transaction():  # type: ignore[attr-defined]
            got = conn.execute(  # type: ignore[attr-defined]
                QUERIES["try_sweeper_lock"], {"key": SWEEPER_LOCK_KEY}
            ).fetchone()
            if not got["locked"]:
                return SweepReport(skipped=True)
            report = requeue_stale_runs(
                db, client, actor, now, window=window, max_attempts=max_attempts
            )
            return resend_pending_runs(db, actor, now, interval=interval, report=report)

    report = db.run(tick, "sweep")
    logger.info("sweep: %s", report)
    return report
