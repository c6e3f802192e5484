"""Result expiry of task runs (Celery's ``result_expires``).

A task run created while its app had ``conf.result_expires`` set carries it (seconds) in its
config (``configurable.result_expires``, ``app.tasks.prepare_run``). Once that long has passed
since the run ended, this job deletes the run with its temporary thread and checkpoints (as
``DELETE /threads/{id}``). Runs every ``SWEEP_INTERVAL_SECONDS``.

``fail_waiting_runs``: a canvas run that ended without success other than by a worker's finish
(revoked while pending, attempts used up, lease lapsed) fails the runs waiting for it here
(``app.canvas.fail_in``; a worker's finish does it in its own transaction). Same interval.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from app import canvas
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


def fail_waiting_runs(db: Database) -> int:
    """Fail the runs still waiting for canvas runs that ended without success (at most ``BATCH``
    ended runs per call); returns how many runs were failed. The sweeper has no task registry:
    those runs get no task options (queue, result_expires), which a run that never runs needs
    not."""
    failed = 0
    for ended in canvas_store.unreleased_failed_links(db, BATCH):

        def work(conn: Any, ended: dict = ended) -> list[dict]:
            with conn.transaction():
                return canvas.fail_in(conn, ended, {})

        failed += len(db.run(work, "fail_waiting_runs"))
    if failed:
        logger.info("results: %d canvas run(s) failed with the run they waited for", failed)
    return failed
