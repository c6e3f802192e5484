"""Heartbeats: a worker process keeps a Redis key alive for each attempt it executes, and checks
Postgres for lost leases and cancel requests.

Key: ``callboard:heartbeat:<run_id>:<claim_token>`` (``app.notify.heartbeat_key``), value the
worker id, TTL = the heartbeat window (``HEARTBEAT_SECONDS``), refreshed ``BEATS_PER_WINDOW``
times per window. With each beat, the worker's presence ``callboard:worker:<worker_id>``
(``app.notify.worker_key``: ``n_jobs`` and ``active`` attempts, same TTL) is refreshed too:
``/metrics`` sums them into the workers' maximum, active and available jobs. The sweeper
requeues a running run whose key is gone. Every
``CHECK_EVERY_BEATS`` beat intervals the lease checker reads the runs' status and claim token
from Postgres: a run whose token changed (requeued elsewhere) or that is gone is stopped and
discarded; one with a cancel request is stopped as cancelled.

Two daemon threads, so that neither store can stall the other: the beats go on while Postgres
is down or slow (a lease check may wait out the store's retries), and the lease checks go on
while Redis is down. Errors of either are logged and the loop goes on: a beat missed during an
outage is made up by the next one, ``window / BEATS_PER_WINDOW`` seconds later. For that, the
Redis client given should fail fast (few retries, a short socket timeout,
``make_beat_client``): retrying inside one beat only delays the next.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.notify import heartbeat_key, worker_key
from app.store import runs as run_store
from app.store.db import Database
from workers.executor import Executor, StopReason
from workers.watchdog import LoopWatchdog

logger = logging.getLogger(__name__)

BEATS_PER_WINDOW = 3
CHECK_EVERY_BEATS = 2


def make_beat_client(url: str, window: float) -> redis.Redis:
    """A Redis client for the beats: one immediate retry, connect and socket timeouts of half a
    beat interval (0.5 to 5 seconds), so that a failing beat gives up about when the next one
    is due instead of delaying it by the seconds of a general client's backoff."""
    timeout = min(max(window / BEATS_PER_WINDOW / 2, 0.5), 5.0)
    return redis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


class Heartbeats:
    """Parameters:
    client: Redis, preferably from ``make_beat_client``. db: Postgres. executor: stops runs
    whose lease is lost or cancelled. window: heartbeat window in seconds (the key's TTL).
    worker_id: stored as the key's value. n_jobs: the worker's ``N_JOBS_PER_WORKER``, written
    in its presence key (None: no presence key, for tests that beat without a worker).

    No beat is written while the executor's event loop is stalled for more than half a window
    (``watchdog``, a ``workers.watchdog.LoopWatchdog``): a worker whose attempts cannot move
    must not keep their leases (nor count as a live worker).
    """

    def __init__(
        self,
        client: redis.Redis,
        db: Database,
        executor: Executor,
        window: float,
        worker_id: str,
        n_jobs: int | None = None,
    ) -> None:
        self.n_jobs = n_jobs
        self.client = client
        self.db = db
        self.executor = executor
        self.window = window
        self.worker_id = worker_id
        self.interval = window / BEATS_PER_WINDOW  # seconds between two beats
        self.watchdog = LoopWatchdog(executor.loop, stall_seconds=window / 2)
        # the attempts beating here, as (run_id, claim_token): one process may hold a stale
        # attempt of a run (requeued, not yet stopped) and its next attempt at once
        self._claims: set[tuple[uuid.UUID, uuid.UUID]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True),
            threading.Thread(target=self._check_loop, name="lease-check", daemon=True),
        ]

    def start(self) -> Heartbeats:
        self.watchdog.start()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.watchdog.stop()
        if self.n_jobs is not None:
            try:
                self.client.delete(worker_key(self.worker_id))
            except redis.RedisError:
                pass  # the TTL removes it

    def add(self, run_id: uuid.UUID, claim_token: uuid.UUID) -> None:
        """Start beating for an attempt; the first beat is written before this returns."""
        with self._lock:
            self._claims.add((run_id, claim_token))
        self._beat({(run_id, claim_token)})

    def remove(self, run_id: uuid.UUID, claim_token: uuid.UUID) -> None:
        """Stop beating for the attempt held by ``claim_token`` and delete its key (best
        effort); another attempt of the same run beating here is left alone."""
        with self._lock:
            held = (run_id, claim_token) in self._claims
            self._claims.discard((run_id, claim_token))
        if held:
            try:
                self.client.delete(heartbeat_key(run_id, claim_token))
            except redis.RedisError:
                pass  # the TTL removes it

    def _snapshot(self) -> set[tuple[uuid.UUID, uuid.UUID]]:
        with self._lock:
            return set(self._claims)

    def _beat(self, runs: set[tuple[uuid.UUID, uuid.UUID]], presence: bool = False) -> None:
        presence = presence and self.n_jobs is not None
        if (not runs and not presence) or self.watchdog.stalled():
            return
        ttl_ms = max(int(self.window * 1000), 1)
        try:
            pipe = self.client.pipeline(transaction=False)
            for run_id, token in runs:
                pipe.set(heartbeat_key(run_id, token), self.worker_id, px=ttl_ms)
            if presence:
                key = worker_key(self.worker_id)
                pipe.hset(key, mapping={"n_jobs": self.n_jobs, "active": len(runs)})
                pipe.pexpire(key, ttl_ms)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("heartbeat of %d run(s) failed: %s", len(runs), exc)

    def check_leases(self, runs: set[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Stop the attempts (``{(run_id, claim_token)}``) whose lease was lost or whose cancel
        was requested."""
        if not runs:
            return
        try:
            rows = run_store.leases(self.db, list({run_id for run_id, _ in runs}))
        except Exception as exc:  # noqa: BLE001 - keep checking through a Postgres outage
            logger.warning("lease check failed: %s", exc)
            return
        held = self._snapshot()
        for run_id, token in runs:
            if (run_id, token) not in held:
                continue  # the attempt ended while Postgres was read
            row = rows.get(run_id)
            if row is None or row["claim_token"] != token or row["status"] != "running":
                # (an attempt that is no longer executing is being settled: its settle is
                # fenced on its own)
                if self.executor.stop(run_id, StopReason.LEASE_LOST, token):
                    logger.warning("run %r: lease lost, stopping its attempt", str(run_id))
            elif row["cancel_action"]:
                reason = (
                    StopReason.ROLLBACK if row["cancel_action"] == "rollback" else StopReason.CANCEL
                )
                self.executor.stop(run_id, reason, token)

    def _every(self, period: float, work: Callable[[], None]) -> None:
        """Call ``work`` every ``period`` seconds (measured start to start) until stopped."""
        while not self._stop.is_set():
            started = time.monotonic()
            work()
            self._stop.wait(max(period - (time.monotonic() - started), 0.01))

    def _beat_loop(self) -> None:
        self._every(self.interval, lambda: self._beat(self._snapshot(), presence=True))

    def _check_loop(self) -> None:
        self._every(self.interval * CHECK_EVERY_BEATS, lambda: self.check_leases(self._snapshot()))
