"""The wake-up a refused claim may owe its own run.

``finish_run`` names the thread's next run to wake from its statement's snapshot, which saves
a round trip per run. A run B created on the thread while the run A before it was being
finished can be outside that snapshot (B's INSERT held the thread's row; A's finish waited for
it, then went on with its older snapshot) and yet have had its claim refused because A was
still running in the claim's snapshot: nobody would wake B before the sweeper's next re-send.
So a worker whose claim found the thread busy calls ``owed_wake_up``: it waits for a finish in
flight on the thread (``FOR SHARE``), and if nothing runs there any more and the run is the
thread's due head, returns its ``{"run_id", "version"}`` to send again. Runs behind a long
running one cost one statement here; their wake-up stays the finish's.
"""

from __future__ import annotations

import uuid
from typing import Any

from app.store.db import QUERIES, Database


def owed_wake_up(db: Database, run_id: uuid.UUID) -> dict[str, Any] | None:
    """``{"run_id", "version"}`` of ``run_id`` when its thread has freed up and it is the
    thread's oldest due pending run (its message must be sent again), else None."""

    def work(conn: Any) -> dict[str, Any] | None:
        running = conn.execute(QUERIES["wait_running_of_thread"], {"run_id": run_id})
        if running.fetchone() is not None:
            return None  # that run's finish will see this one (it was committed before)
        head = conn.execute(QUERIES["thread_head_if_due"], {"run_id": run_id}).fetchone()
        return head if head is not None and head["run_id"] == run_id else None

    return db.run(work, "owed_wake_up")
