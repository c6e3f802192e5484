"""Webhook deliveries: the leases and outcomes of their attempts (``webhooks.sql``).

A delivery row is written by the database itself (trigger ``runs_record_webhook``, migration
0004) in the statement that ends a run whose ``kwargs.webhook`` is set. Statuses:

    pending ──2xx──► delivered
       │  └─failure, attempts left──► pending (next_attempt_at = now + backoff)
       └─failure, no attempt left or URL refused──► failed

Each attempt is leased first (``lease_for_run``, ``lease_due``): one UPDATE bumps ``attempts``,
sets a fresh ``lease_token`` and moves ``next_attempt_at`` past the lease, so a second sender
(another worker, a sweeper) finds nothing due. Only the holder of ``lease_token`` records the
outcome; if it dies, the attempt is due again when the lease expires.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from app.store.db import QUERIES, Database


def lease_for_run(db: Database, run_id: uuid.UUID, lease_seconds: float) -> dict | None:
    """Lease the next attempt of ``run_id``'s delivery if one is due now (database clock);
    None otherwise. ``lease_seconds``: how long the attempt is this caller's."""
    return db.fetch_one("lease_run_webhook", {"run_id": run_id, "lease_seconds": lease_seconds})


def lease_due(
    db: Database, now: datetime.datetime, lease_seconds: float, limit: int = 100
) -> list[dict]:
    """Lease the next attempt of up to ``limit`` deliveries due at ``now``, oldest first."""
    return db.fetch(
        "lease_due_webhooks", {"now": now, "lease_seconds": lease_seconds, "limit": limit}
    )


def record_delivered(db: Database, delivery: dict, response_status: int) -> bool:
    """pending → delivered for the attempt leased in ``delivery``; False if the lease was lost."""
    params = {
        "delivery_id": delivery["delivery_id"],
        "lease_token": delivery["lease_token"],
        "response_status": response_status,
    }
    return db.fetch_one("record_webhook_delivered", params) is not None


def record_failure(
    db: Database,
    delivery: dict,
    *,
    error: str,
    retry_in: float,
    max_attempts: int,
    give_up: bool = False,
    response_status: int | None = None,
) -> dict | None:
    """The leased attempt failed: due again in ``retry_in`` seconds, or ``failed`` once
    ``max_attempts`` attempts were made (or ``give_up``). Returns the row, or None if the lease
    was lost."""
    params: dict[str, Any] = {
        "delivery_id": delivery["delivery_id"],
        "lease_token": delivery["lease_token"],
        "error": error[:2000],
        "retry_in": retry_in,
        "max_attempts": max_attempts,
        "give_up": give_up,
        "response_status": response_status,
    }
    return db.fetch_one("record_webhook_failure", params)


def for_run(db: Database, run_id: uuid.UUID) -> dict | None:
    return db.fetch_one("get_run_webhook", {"run_id": run_id})


def purge(db: Database, older_than: datetime.datetime) -> int:
    """Delete deliveries that ended before ``older_than``; returns how many."""

    def work(conn: Any) -> int:
        return conn.execute(
            QUERIES["purge_webhook_deliveries"], {"older_than": older_than}
        ).rowcount

    return db.run(work, "purge_webhook_deliveries")
