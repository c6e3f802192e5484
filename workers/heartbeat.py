"""Heartbeats: one daemon thread per worker process keeps a Redis key alive for each attempt it
executes, and checks Postgres for lost leases and cancel requests.

Key: ``callboard:heartbeat:<run_id>:<claim_token>`` (``app.notify.heartbeat_key``), value the
worker id, TTL = the heartbeat window (``HEARTBEAT_SECONDS``), refreshed ``BEATS_PER_WINDOW``
times per window. The sweeper requeues a running run whose key is gone. Every
``CHECK_EVERY_BEATS`` beats the thread reads its runs' status and claim token from Postgres: a
run whose token changed (requeued elsewhere) or that is gone is stopped and discarded; one with a
cancel request is stopped as cancelled. Both kinds of error (Redis, Postgres) are logged and the
loop goes on: a beat missed during an outage is made up by the next one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis

from app.notify import heartbeat_key
from app.store import runs as run_store
from app.store.db import Database
from workers.executor import Executor, StopReason

logger = logging.getLogger(__name__)

BEATS_PER_WINDOW = 3
CHECK_EVERY_BEATS = 2


class Heartbeats:
    """Parameters:
    client: Redis. db: Postgres. executor: stops runs whose lease is lost or cancelled.
    window: heartbeat window in seconds (the key's TTL). worker_id: stored as the key's value.
    """

    def __init__(
        self, client: redis.Redis, db: Database, executor: Executor, window: float, worker_id: str
    ) -> None:
        self.client = client
        self.db = db
        self.executor = executor
        self.window = window
        self.worker_id = worker_id
        self._runs: dict[uuid.UUID, uuid.UUID] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> Heartbeats:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def add(self, run_id: uuid.UUID, claim_token: uuid.UUID) -> None:
        """Start beating for an attempt; the first beat is written before this returns."""
        with self._lock:
            self._runs[run_id] = claim_token
        self._beat({run_id: claim_token})

    def remove(self, run_id: uuid.UUID) -> None:
        """Stop beating for ``run_id`` and delete its key (best effort)."""
        with self._lock:
            token = self._runs.pop(run_id, None)
        if token is not None:
            try:
                self.client.delete(heartbeat_key(run_id, token))
            except redis.RedisError:
                pass  # the TTL removes it

    def _beat(self, runs: dict[uuid.UUID, uuid.UUID]) -> None:
        if not runs:
            return
        ttl_ms = max(int(self.window * 1000), 1)
        try:
            pipe = self.client.pipeline(transaction=False)
            for run_id, token in runs.items():
                pipe.set(heartbeat_key(run_id, token), self.worker_id, px=ttl_ms)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("heartbeat of %d run(s) failed: %s", len(runs), exc)

    def check_leases(self, runs: dict[uuid.UUID, uuid.UUID]) -> None:
        """Stop the runs whose lease was lost or whose cancel was requested."""
        if not runs:
            return
        try:
            rows = run_store.leases(self.db, list(runs))
        except Exception as exc:  # noqa: BLE001 - keep beating through a Postgres outage
            logger.warning("lease check failed: %s", exc)
            return
        for run_id, token in runs.items():
            row = rows.get(run_id)
            if row is None or row["claim_token"] != token or row["status"] != "running":
                logger.warning("run %r: lease lost, stopping its attempt", str(run_id))
                self.executor.stop(run_id, StopReason.LEASE_LOST)
            elif row["cancel_action"]:
                reason = (
                    StopReason.ROLLBACK if row["cancel_action"] == "rollback" else StopReason.CANCEL
                )
                self.executor.stop(run_id, reason)

    def _loop(self) -> None:
        interval = self.window / BEATS_PER_WINDOW
        beats = 0
        while not self._stop.is_set():
            started = time.monotonic()
            with self._lock:
                runs = dict(self._runs)
            self._beat(runs)
            beats += 1
            if beats % CHECK_EVERY_BEATS == 0:
                self.check_leases(runs)
            self._wake.wait(max(interval - (time.monotonic() - started), 0.01))
