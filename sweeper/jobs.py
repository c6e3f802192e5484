"""The sweeper's jobs: plain functions of ``now`` that return counts (River's ``runOnce``,
RQ's ``cleanup(timestamp)``), so tests call them directly.

- ``requeue_stale_runs``: running runs whose heartbeat lapsed go back to pending (or end as error
  when their attempts are used up); never while Redis has kept its keys for less than one
  window: a restarted or flushed Redis has lost every heartbeat key at once, and live workers
  need one window to write them again.
- ``resend_pending_runs``: pending runs whose message may be lost (Redis flushed or restarted, a
  crash between COMMIT and send, a worker killed with the message prefetched) get one more
  message per interval, unless their message is still waiting in the queue: a healthy backlog
  is not multiplied.

Several sweepers may run: every change is a conditional UPDATE, and ``sweep`` takes a
transaction-scoped advisory lock so that only one does the work of a tick.

Redis key of the sweeper's own (next to those listed in ``app/notify.py``):

    callboard:redis-epoch   Redis server time (Unix seconds) when a sweeper found it missing:
                            Redis has kept its keys since then. Gone after a restart, a
                            FLUSHALL or a FLUSHDB, with the heartbeat keys; written again by
                            the next tick, which then waits one window before requeueing.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import dramatiq
import redis
from dramatiq.common import dq_name
from dramatiq.errors import DecodeError

from app.notify import heartbeat_key
from app.queue import run_queue, send_execute_run
from app.run_end import after_run_end
from app.runs import RunStatus
from app.store import locks
from app.store import runs as run_store
from app.store.db import Database

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
    waiting: int = 0  # pending runs whose message still waits in the queue: not sent again
    redis_young: bool = False  # Redis lost its keys less than one window ago: no requeue


REDIS_EPOCH_KEY = "callboard:redis-epoch"


def redis_uptime_seconds(client: redis.Redis) -> float:
    return float(client.info("server")["uptime_in_seconds"])


def _redis_time(reply: tuple[int, int]) -> float:
    seconds, micros = reply
    return seconds + micros / 1e6


def redis_memory_seconds(client: redis.Redis) -> float:
    """How long Redis has kept its keys (seconds): since it started, or since its keys were
    flushed, whichever is later. A flush is known by the missing ``callboard:redis-epoch``
    marker, which is then written (and 0 returned)."""
    return _read_epoch(client)[1]


def _read_epoch(client: redis.Redis) -> tuple[bytes | None, float]:
    """``(marker, seconds Redis has kept its keys)``; writes the marker when it is missing."""
    pipe = client.pipeline(transaction=True)
    pipe.time()
    pipe.get(REDIS_EPOCH_KEY)
    now, epoch = pipe.execute()
    if epoch is None:
        client.set(REDIS_EPOCH_KEY, repr(_redis_time(now)), nx=True)
        return None, 0.0
    return epoch, min(_redis_time(now) - float(epoch), redis_uptime_seconds(client))


def _heartbeats_snapshot(client: redis.Redis, stale: list[dict]) -> tuple[bytes | None, list[int]]:
    """The epoch marker and which of the ``stale`` runs have a heartbeat key, read at one instant
    (MULTI/EXEC), so that a flush cannot fall between the two."""
    pipe = client.pipeline(transaction=True)
    pipe.get(REDIS_EPOCH_KEY)
    for row in stale:
        pipe.exists(heartbeat_key(row["run_id"], row["claim_token"]))
    epoch, *alive = pipe.execute()
    return epoch, alive


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

    Does nothing while Redis has kept its keys for less than ``window`` (restarted or flushed:
    ``redis_memory_seconds``); the heartbeat keys are read in one transaction with the marker
    that proves they were not flushed meanwhile.

    Parameters:
        window: the heartbeat window in seconds.
    """
    report = report or SweepReport()
    epoch, kept_seconds = _read_epoch(client)
    if kept_seconds < window:
        report.redis_young = True
        return report
    claimed_before = now - datetime.timedelta(seconds=window)
    after = None
    while True:  # page by page: the live runs of a page must not hide the dead ones after it
        stale = run_store.stale_runs(db, claimed_before, after, BATCH)
        report.stale += len(stale)
        if not stale or not _requeue_lapsed(db, client, actor, stale, epoch, max_attempts, report):
            return report
        if len(stale) < BATCH:
            return report
        after = stale[-1]


def _requeue_lapsed(
    db: Database,
    client: redis.Redis,
    actor: dramatiq.Actor,
    stale: list[dict],
    epoch: bytes | None,
    max_attempts: int,
    report: SweepReport,
) -> bool:
    """Requeue the runs of one page of ``stale`` whose heartbeat key is missing; False when
    Redis lost its keys meanwhile (the keys prove nothing: stop the tick)."""
    epoch_now, alive = _heartbeats_snapshot(client, stale)
    if epoch_now is None or epoch_now != epoch:
        report.redis_young = True  # flushed between the two reads: the keys prove nothing
        return False
    for row, beating in zip(stale, alive, strict=True):
        if beating:
            continue
        moved = run_store.requeue_lapsed(
            db,
            row,
            reason=f"heartbeat lapsed (worker {row['worker_id']})",
            max_attempts=max_attempts,
        )
        if moved is None:
            continue  # finished or requeued meanwhile, or held by a stalled transaction
        if moved["status"] == RunStatus.PENDING:
            report.requeued += 1
            logger.warning(
                "run %r: heartbeat lapsed, requeued (attempt %d of %d used)",
                str(row["run_id"]),
                row["attempt"],
                max_attempts,
            )
            send_execute_run(actor, moved["run_id"], moved["version"], queue=run_queue(moved))
        else:
            report.failed += 1
            logger.error(
                "run %r: heartbeat lapsed, ended %s (no attempt left, or a cancel was asked)",
                str(row["run_id"]),
                moved["status"],
            )
            # the requeue cleared the claim time: /metrics' run duration needs it
            after_run_end(db, client, actor, {**moved, "claimed_at": row.get("claimed_at")})
    return True


def waiting_messages(
    actor: dramatiq.Actor, queues: set[str] | None = None
) -> set[tuple[str, int]]:
    """``{(run_id, version)}`` of the messages of ``actor`` that wait in Redis for a consumer: in
    its queue or its delay queue (``dramatiq:<queue>`` and ``dramatiq:<queue>.DQ``, ids, with
    the bodies in ``….msgs``), or in those of ``queues`` (tasks' queues) when given. Not those
    a consumer has taken: it may have died with them. Empty for a broker that is not
    Dramatiq's Redis broker."""
    client = getattr(actor.broker, "client", None)
    namespace = getattr(actor.broker, "namespace", None)
    if not isinstance(client, redis.Redis) or not namespace:
        return set()
    found: set[tuple[str, int]] = set()
    names = queues or {actor.queue_name}
    for queue in [name for q in sorted(names) for name in (q, dq_name(q))]:
        key = f"{namespace}:{queue}"
        ids = client.lrange(key, 0, -1)
        for start in range(0, len(ids), BATCH):
            for data in client.hmget(f"{key}.msgs", ids[start : start + BATCH]):
                if not isinstance(data, bytes):
                    continue  # None: taken (and maybe acked) since the LRANGE
                try:
                    message = dramatiq.Message.decode(data)
                    if message.actor_name == actor.actor_name:
                        run_id, version = message.args
                        found.add((str(run_id), int(version)))
                except (DecodeError, ValueError, TypeError):
                    continue
    return found


def resend_pending_runs(
    db: Database,
    actor: dramatiq.Actor,
    now: datetime.datetime,
    *,
    interval: float,
    report: SweepReport | None = None,
) -> SweepReport:
    """Send one more message for pending runs untouched for ``interval`` seconds whose message
    is not waiting in the queue (``waiting_messages``); at most one per run per interval.

    Parameters:
        interval: seconds (the sweeper's period).
    """
    report = report or SweepReport()
    older_than = now - datetime.timedelta(seconds=interval)
    rows = run_store.mark_pending_resent(db, older_than, BATCH)
    queues = {row["queue"] or actor.queue_name for row in rows}
    waiting = waiting_messages(actor, queues) if rows else set()
    for row in rows:
        if (str(row["run_id"]), int(row["version"])) in waiting:
            report.waiting += 1
            continue
        send_execute_run(actor, row["run_id"], row["version"], queue=row["queue"])
        report.resent += 1
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

    def work() -> SweepReport:
        report = requeue_stale_runs(
            db, client, actor, now, window=window, max_attempts=max_attempts
        )
        return resend_pending_runs(db, actor, now, interval=interval, report=report)

    report = locks.while_holding(db, SWEEPER_LOCK_KEY, work, "sweep") or SweepReport(skipped=True)
    logger.info("sweep: %s", report)
    return report
