"""What an operator looks at: the figures of ``callboard status`` and of ``/dashboard``, read from
Postgres (``app/store/operations.sql``) and Redis. Read-only; nothing here changes a run.

- Queue depth: the messages waiting for a worker in Dramatiq's Redis lists
  (``dramatiq:<queue>`` and its delay queue ``dramatiq:<queue>.DQ``), beside the ``pending``
  runs Postgres counts (the two differ while the sweeper re-sends lost messages).
- Heartbeat age of a running run: seconds since its worker last refreshed
  ``callboard:heartbeat:<run_id>:<claim_token>`` (``app.notify.heartbeat_key``), computed from
  the key's remaining TTL (the TTL is the heartbeat window at each beat). None: the key is gone.
- A run is *lapsed* when its key is gone and it was claimed more than one window ago: the
  sweeper's rule for requeueing it (``sweeper.jobs.requeue_stale_runs``).
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import redis

from app.notify import heartbeat_key
from app.store.db import Database

RUN_STATUSES = ("pending", "running", "success", "error", "timeout", "interrupted")


@dataclass
class RunningRun:
    """A running run as a worker holds it; ``heartbeat_age`` in seconds (None: no heartbeat)."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    graph_id: str
    attempt: int
    worker_id: str | None
    claimed_at: datetime.datetime
    heartbeat_age: float | None
    lapsed: bool


@dataclass
class Snapshot:
    """The state of the service at ``now`` (UTC). Durations in seconds, latencies in ms."""

    now: datetime.datetime
    runs_by_status: dict[str, int]
    queue_depth: int  # messages waiting in Redis for a worker
    running: list[RunningRun]
    due_crons: int
    webhook_backlog: int
    pending_webhooks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lapsed(self) -> list[RunningRun]:
        return [run for run in self.running if run.lapsed]

    def running_by_worker(self) -> dict[str, list[RunningRun]]:
        """The running runs grouped by the worker that claimed them (sorted by worker id)."""
        groups: dict[str, list[RunningRun]] = defaultdict(list)
        for run in self.running:
            groups[run.worker_id or "?"].append(run)
        return dict(sorted(groups.items()))


def queue_depth(client: redis.Redis, queue_name: str, namespace: str = "dramatiq") -> int:
    """Messages waiting in the queue and its delay queue (not those a worker has taken)."""
    pipe = client.pipeline(transaction=False)
    pipe.llen(f"{namespace}:{queue_name}")
    pipe.llen(f"{namespace}:{queue_name}.DQ")
    return sum(int(n) for n in pipe.execute())


def heartbeat_ages(
    client: redis.Redis, rows: list[dict[str, Any]], window: float
) -> list[float | None]:
    """For each running run (``run_id``, ``claim_token``), seconds since its last beat, or None
    when its heartbeat key does not exist."""
    if not rows:
        return []
    pipe = client.pipeline(transaction=False)
    for row in rows:
        pipe.pttl(heartbeat_key(row["run_id"], row["claim_token"]))
    ages: list[float | None] = []
    for pttl in pipe.execute():
        ages.append(None if pttl is None or pttl < 0 else max(window - pttl / 1000, 0.0))
    return ages


def snapshot(
    db: Database,
    client: redis.Redis,
    *,
    queue_name: str,
    window: float,
    now: datetime.datetime | None = None,
    limit: int = 200,
) -> Snapshot:
    """Read the figures (``limit`` bounds the running runs and pending webhooks listed)."""
    now = now or datetime.datetime.now(datetime.UTC)
    counts = {row["status"]: int(row["runs"]) for row in db.fetch("count_runs_by_status")}
    rows = db.fetch("list_running_runs", {"limit": limit})
    running = []
    for row, age in zip(rows, heartbeat_ages(client, rows, window), strict=True):
        claimed_for = (now - row["claimed_at"]).total_seconds()
        running.append(
            RunningRun(
                run_id=row["run_id"],
                thread_id=row["thread_id"],
                graph_id=row["graph_id"],
                attempt=row["attempt"],
                worker_id=row["worker_id"],
                claimed_at=row["claimed_at"],
                heartbeat_age=age,
                lapsed=age is None and claimed_for > window,
            )
        )
    webhooks = db.fetch("list_pending_webhooks", {"limit": limit})
    due = db.fetch_one("count_due_crons", {"now": now})
    return Snapshot(
        now=now,
        runs_by_status={status: counts.get(status, 0) for status in RUN_STATUSES},
        queue_depth=queue_depth(client, queue_name),
        running=running,
        due_crons=int(due["due"]) if due else 0,
        webhook_backlog=int(webhooks[0]["backlog"]) if webhooks else 0,
        pending_webhooks=webhooks,
    )


def recent_runs(
    db: Database, *, status: str | None = None, graph_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest runs, filtered by ``status`` and ``graph_id`` when given."""
    return db.fetch("list_recent_runs", {"status": status, "graph_id": graph_id, "limit": limit})


def recent_failures(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs that ended as ``error`` or ``timeout``, with their ``error``."""
    return db.fetch("list_recent_failures", {"limit": limit})


def rates_by_minute(
    db: Database, now: datetime.datetime | None = None, minutes: int = 30
) -> list[dict[str, Any]]:
    """One row per minute of the last ``minutes`` (minutes without an ended run included, as
    zeros): ``minute``, ``ended`` (runs), ``duration_p50_ms``, ``duration_p95_ms``,
    ``queue_wait_p50_ms`` (None without runs)."""
    now = now or datetime.datetime.now(datetime.UTC)
    rows = db.fetch("run_rates_by_minute", {"now": now, "minutes": minutes})
    found = {row["minute"]: row for row in rows}
    start = now.replace(second=0, microsecond=0) - datetime.timedelta(minutes=minutes - 1)
    series = []
    for i in range(minutes):
        minute = start + datetime.timedelta(minutes=i)
        row = found.get(minute) or {
            "ended": 0,
            "duration_p50_ms": None,
            "duration_p95_ms": None,
            "queue_wait_p50_ms": None,
        }
        series.append({**row, "minute": minute})
    return series


def crons(db: Database, now: datetime.datetime | None = None, limit: int = 50) -> list[dict]:
    """Crons by next fire time, each with its ``graph_id`` and whether it is ``due``."""
    now = now or datetime.datetime.now(datetime.UTC)
    return db.fetch("list_crons_by_next_fire", {"now": now, "limit": limit})
