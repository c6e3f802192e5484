"""The sweeper's listener for runs created inside a caller's transaction (``enqueue_in``).

``callboard.transactional`` issues ``NOTIFY callboard_runs_created`` in the caller's transaction;
Postgres delivers it at COMMIT. This thread ``LISTEN``s on its own connection and sends each
run's message. A notification sent while no listener is connected is lost: the periodic
``resend_pending_runs`` sends those runs' messages after ``SWEEP_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid

import dramatiq

from app.errors import StoreUnavailable
from app.queue import send_execute_run
from app.store.canvas import listen_created_runs

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class CreatedRunsListener(threading.Thread):
    """Sends the message of each run announced on ``callboard_runs_created``."""

    def __init__(self, database_url: str, actor: dramatiq.Actor) -> None:
        super().__init__(name="created-runs-listener", daemon=True)
        self.database_url = database_url
        self.actor = actor
        self.stopping = threading.Event()
        self.listening = threading.Event()  # set while LISTEN is in effect

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                listen_created_runs(
                    self.database_url,
                    self.handle,
                    stopping=self.stopping,
                    listening=self.listening,
                )
            except StoreUnavailable as exc:
                self.listening.clear()
                logger.warning("created-runs listener: %s (reconnecting)", exc)
                self.stopping.wait(RECONNECT_SECONDS)

    def handle(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            run_id = uuid.UUID(data["run_id"])
            version = int(data["version"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed notification %r", payload)
            return
        delay = float(data.get("delay") or 0)
        send_execute_run(self.actor, run_id, version, delay, queue=data.get("queue"))

    def stop(self) -> None:
        self.stopping.set()
