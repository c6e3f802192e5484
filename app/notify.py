"""Redis: the client factory (with retries) and the ephemeral signals between processes.

Redis key layout (everything Callboard keeps in Redis; losing all of it loses no run):

    callboard:heartbeat:<run_id>:<claim_token>   string, TTL = HEARTBEAT_SECONDS; a live attempt
    callboard:result:<run_id>                    JSON output of a finished temporary run whose
                                                 thread was deleted, TTL 1 h (join reads it)
    callboard:worker:<worker_id>                 hash {n_jobs, active}, TTL = HEARTBEAT_SECONDS,
                                                 refreshed with the heartbeats: a live worker
    callboard:metrics:runs                       hash of run duration/queue-wait histograms
                                                 (app/run_metrics.py)
    channel callboard:<db>:run-done              payload: run_id; published after a run ends
    channel callboard:<db>:run-cancel            payload: {"run_id", "action"}; a cancel request
    (pub/sub channels are server-wide, not per DB number: <db> keeps two deployments, or two
    test sessions, that share one Redis server on different DB numbers apart)
    (Dramatiq keeps its own keys under dramatiq:*)

Every call retries connection errors with exponential backoff (redis-py's ``Retry``); a caller
that must not fail on a Redis outage (sending the wake-up message after a run is committed)
catches ``redis.RedisError`` and relies on the sweeper.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

import redis
import redis.asyncio
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

RUN_DONE = "run-done"
RUN_CANCEL = "run-cancel"
RESULT_TTL_SECONDS = 3600


def heartbeat_key(run_id: uuid.UUID | str, claim_token: uuid.UUID | str) -> str:
    return f"callboard:heartbeat:{run_id}:{claim_token}"


WORKER_KEY_PREFIX = "callboard:worker:"


def worker_key(worker_id: str) -> str:
    """The presence key of a live worker process (see the key layout above)."""
    return f"{WORKER_KEY_PREFIX}{worker_id}"


def result_key(run_id: uuid.UUID | str) -> str:
    return f"callboard:result:{run_id}"


def channel(client: redis.Redis, name: str) -> str:
    """The pub/sub channel ``name`` of the Redis DB ``client`` uses (``callboard:<db>:<name>``)."""
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return f"callboard:{db}:{name}"


# connections one client may open at once: a web process holds one per open SSE stream (a
# blocking XREAD), so redis-py's default pool bound (100) would stall streams beyond it
MAX_CONNECTIONS = 10_000


def make_redis(url: str, *, retries: int = 12, socket_timeout: float = 5.0) -> redis.Redis:
    """A Redis client for ``url`` that retries connection errors and timeouts.

    Parameters:
        retries: attempts after the first; the backoff doubles from 20 ms up to 1 s, so the
            default rides out a restart of about 8 seconds.
        socket_timeout: seconds before a blocked command counts as a timeout.
    """
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.02), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
        socket_timeout=socket_timeout,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        max_connections=MAX_CONNECTIONS,
    )


def make_async_redis(url: str, *, retries: int = 12) -> redis.asyncio.Redis:
    """``make_redis`` for asyncio code (the worker's event loop)."""
    from redis.asyncio.retry import Retry as AsyncRetry

    return redis.asyncio.Redis.from_url(
        url,
        retry=AsyncRetry(ExponentialBackoff(cap=1.0, base=0.02), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
        socket_timeout=5.0,
        socket_connect_timeout=2.0,
    )


def publish_run_done(client: redis.Redis, run_id: uuid.UUID) -> None:
    """Tell every web process that ``run_id`` reached a terminal status (best effort)."""
    try:
        client.publish(channel(client, RUN_DONE), str(run_id))
    except redis.RedisError as exc:
        logger.warning("could not publish the end of run %r: %s", str(run_id), exc)


def publish_cancel(client: redis.Redis, run_id: uuid.UUID, action: str) -> None:
    """Fast path of a cancel (the durable record is in Postgres; workers also poll it)."""
    try:
        client.publish(
            channel(client, RUN_CANCEL), json.dumps({"run_id": str(run_id), "action": action})
        )
    except redis.RedisError as exc:
        logger.warning("could not publish the cancel of run %r: %s", str(run_id), exc)


class Subscriber:
    """One daemon thread per process that listens on a channel and calls ``on_message(data)``.

    It reconnects (and re-subscribes) after any Redis error, so a Redis restart only delays
    notifications; callers keep a slower fallback (Postgres) for what they wait on.
    """

    def __init__(self, client: redis.Redis, channel: str, on_message: Any, name: str) -> None:
        self.client = client
        self.channel = channel
        self.on_message = on_message
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Subscriber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.ready.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message["data"]
                        self.on_message(data.decode() if isinstance(data, bytes) else data)
            except Exception as exc:  # noqa: BLE001 - the listener must survive anything
                logger.warning("subscriber on %s failed, reconnecting: %s", self.channel, exc)
                self.ready.clear()
                time.sleep(0.5)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001
                    pass


class RunWaiter:
    """Lets request threads wait for the end of a run without polling Postgres in a loop.

    The listener thread starts on first use (after gunicorn forks), subscribed to
    the run-done channel; ``wait`` returns when the run is announced or after ``timeout``
    seconds, whichever comes first. Callers check Postgres before and after waiting.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._events: dict[str, list[threading.Event]] = {}
        self._subscriber: Subscriber | None = None

    def _ensure_started(self) -> None:
        with self._lock:
            if self._subscriber is None:
                self._subscriber = Subscriber(
                    self.client,
                    channel(self.client, RUN_DONE),
                    self._on_done,
                    "callboard-run-done",
                ).start()
        self._subscriber.ready.wait(timeout=2.0)

    def _on_done(self, run_id: str) -> None:
        with self._lock:
            for event in self._events.pop(run_id, ()):
                event.set()

    def register(self, run_id: uuid.UUID) -> threading.Event:
        """Start listening for ``run_id``; call before checking Postgres, to miss nothing."""
        self._ensure_started()
        event = threading.Event()
        with self._lock:
            self._events.setdefault(str(run_id), []).append(event)
        return event

    def unregister(self, run_id: uuid.UUID, event: threading.Event) -> None:
        with self._lock:
            events = self._events.get(str(run_id))
            if events and event in events:
                events.remove(event)
                if not events:
                    del self._events[str(run_id)]
