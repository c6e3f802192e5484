"""The Postgres side of ``/metrics`` (``metrics.sql``): counts read at scrape time."""

from __future__ import annotations

from app.store.db import Database


def live_run_counts(db: Database) -> dict[str, int]:
    """``{"pending": n, "running": m}`` (0 when there is none)."""
    counts = {"pending": 0, "running": 0}
    for row in db.fetch("count_live_runs"):
        counts[row["status"]] = int(row["n"])
    return counts


def running_claims(db: Database) -> list[dict]:
    """Each running run's ``run_id``, ``claim_token`` and ``claimed_seconds_ago`` (seconds)."""
    return db.fetch("running_run_claims")


def webhook_backlog(db: Database) -> tuple[int, float]:
    """(pending webhook deliveries, age of the oldest in seconds; 0 when there is none)."""
    row = db.fetch_one("count_webhook_backlog") or {"n": 0, "oldest_seconds": 0.0}
    return int(row["n"]), float(row["oldest_seconds"])
