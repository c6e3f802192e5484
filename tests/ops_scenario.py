"""An operator's scenario for ``callboard status`` and ``/dashboard`` tests: pending runs, a
running run with a fresh heartbeat, a lapsed one, a due cron and a pending webhook."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import redis

from app.notify import heartbeat_key
from app.store import runs as run_store
from app.store.db import Database


@dataclass
class Scenario:
    pending: list[str]
    running: str  # claimed by worker-a, heartbeat 0.5 s old
    lapsed: str  # claimed by worker-b an hour ago, no heartbeat
    cron_id: str
    webhook_run: str


def claim(db: Database, run_id: str, worker_id: str) -> run_store.Claim:
    row = run_store.get(db, uuid.UUID(run_id))
    assert row is not None
    won = run_store.claim(db, row["run_id"], int(row["version"]), worker_id)
    assert won is not None, f"could not claim {run_id}"
    return won


def build(post: Any, database_url: str, redis_url: str, window: float) -> Scenario:
    """``post(path, json) -> dict`` sends an API request (a Flask test client or httpx)."""
    body = {"assistant_id": "noop", "input": {}, "on_completion": "keep"}
    runs = [post("/runs", body)["run_id"] for _ in range(4)]
    db = Database(database_url, max_size=2)
    client = redis.Redis.from_url(redis_url)
    try:
        running = claim(db, runs[0], "worker-a")
        client.set(
            heartbeat_key(running.run_id, running.claim_token), "worker-a",
            px=int(window * 1000) - 500,
        )  # fmt: skip
        claim(db, runs[1], "worker-b")
        thread = post("/threads", {})["thread_id"]
        cron = post(
            f"/threads/{thread}/runs/crons",
            {"assistant_id": "noop", "schedule": "*/5 * * * *", "input": {}},
        )
        webhook_run = str(uuid.uuid4())
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE runs SET claimed_at = now() - interval '1 hour' WHERE run_id = %s",
                (runs[1],),
            )
            conn.execute(
                "UPDATE crons SET next_run_date = now() - interval '1 minute' WHERE cron_id = %s",
                (cron["cron_id"],),
            )
            conn.execute(
                "INSERT INTO webhook_deliveries (run_id, url, run, attempts, last_error)"
                " VALUES (%s, 'https://hooks.example/run-ended', '{}', 2, 'HTTP 503')",
                (webhook_run,),
            )
    finally:
        db.close()
        client.close()
    return Scenario(runs[2:], runs[0], runs[1], cron["cron_id"], webhook_run)
