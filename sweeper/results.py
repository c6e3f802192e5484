"""Result expiry of task runs (Celery's ``result_expires``).

A task run created while its app had ``conf.result_expires`` set carries it (seconds) in its
config (``configurable.result_expires``, ``app.tasks.prepare_run``). Once that long has passed
since the run ended, this job deletes the run with its temporary thread and checkpoints (as
``DELETE /threads/{id}``). Runs every ``SWEEP_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import datetime
import logging

from app.store import canvas as canvas_store
from app.store import threads as thread_store
from app.store.db import Database

logger = logging.getLogger(__name__)

BATCH = 500


def expire_results(db: Database, now: datetime.datetime) -> int:
    """Delete the finished task runs whose ``result_expires`` passed at ``now``; returns how
    many (at most ``BATCH`` per call: the next tick takes the rest)."""
    deleted = 0
    for thread_id in canvas_store.expired_threads(db, now, BATCH):
        deleted += thread_store.delete(db, thread_id)
    if deleted:
        logger.info("results: %d expired task run(s) deleted", deleted)
    return deleted
