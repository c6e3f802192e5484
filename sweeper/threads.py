"""The sweeper's TTL job: threads and store items whose time-to-live has passed.

- threads with ``ttl.strategy = "delete"``: deleted with their runs and checkpoints;
- threads with ``ttl.strategy = "keep_latest"``: only their latest checkpoints are kept, and
  their TTL starts again;
- store items put with a ``ttl``: deleted (LangGraph's ``PostgresStore.sweep_ttl``, as a query of
  ``now`` so that tests can sweep "later" without waiting).

A thread with a pending or running run is left alone until a later tick. Each change is a
conditional DELETE/UPDATE that skips rows another sweeper holds (``FOR UPDATE SKIP LOCKED``), so
several sweepers may run this job at once.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from app.store import memory
from app.store import threads as thread_store
from app.store.db import Database

logger = logging.getLogger(__name__)

BATCH = 1000  # rows of each kind handled per tick at most


@dataclass
class TtlReport:
    """What one TTL sweep did (counts)."""

    threads_deleted: int = 0
    threads_trimmed: int = 0  # keep_latest: old checkpoints pruned
    store_items_deleted: int = 0


def sweep_ttl(db: Database, now: datetime.datetime, *, limit: int = BATCH) -> TtlReport:
    """Apply the TTLs that passed before ``now`` (at most ``limit`` rows of each kind)."""
    report = TtlReport(
        threads_deleted=len(thread_store.delete_expired(db, now, limit)),
        threads_trimmed=len(thread_store.trim_expired(db, now, limit)),
        store_items_deleted=memory.delete_expired(db, now, limit),
    )
    if report.threads_deleted or report.threads_trimmed or report.store_items_deleted:
        logger.info("ttl sweep: %s", report)
    return report
