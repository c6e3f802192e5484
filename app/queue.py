"""The send side of the run queue: the Dramatiq broker, the one actor declaration that web,
worker and sweeper share, and the doorbell each immediate enqueue rings.

Messages carry ids only: ``execute_run(run_id, version)`` is a wake-up hint; Postgres decides
whether anything runs (the claim is fenced on ``version``). Losing a message loses no run: the
sweeper re-sends what Postgres says is pending.

Doorbell: after each immediate enqueue, ``DoorbellBroker`` rings the queue's doorbell, a
one-element Redis list at ``<namespace>:<queue>.doorbell`` that expires after ``RING_TTL_MS``;
a worker's consumer waits on it instead of sleeping Dramatiq's backoff (``workers/doorbell.py``,
the consuming half). Delayed messages do not ring.
"""

from __future__ import annotations

import logging
import uuid

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import Message
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, TimeLimit

from app.config import Settings
from app.notify import make_redis

logger = logging.getLogger(__name__)

EXECUTE_RUN = "execute_run"
# a backstop far beyond any run's own limit (RUN_TIMEOUT_SECONDS is enforced by the executor)
ACTOR_TIME_LIMIT_MS = 48 * 3600 * 1000
RING_TTL_MS = 60_000  # an unanswered ring expires (no worker consumes the queue)


def doorbell_key(namespace: str, queue_name: str) -> str:
    """The Redis key of ``queue_name``'s doorbell."""
    return f"{namespace}:{queue_name}.doorbell"


class DoorbellBroker(RedisBroker):
    """``RedisBroker`` whose immediate enqueues ring the queue's doorbell (module docstring).
    Same constructor as ``RedisBroker``; its consumers are Dramatiq's own (the worker uses
    ``workers.doorbell.WaitingBroker``, whose consumers wait on the ring)."""

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        """``RedisBroker.enqueue``, then one ring (a pipelined RPUSH + LTRIM + PEXPIRE)."""
        enqueued = super().enqueue(message, delay=delay)
        if delay is None:
            key = doorbell_key(self.namespace, message.queue_name)
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(key, 1).ltrim(key, -1, -1).pexpire(key, RING_TTL_MS)
            pipe.execute()
        return enqueued


def make_broker(
    settings: Settings, broker_class: type[DoorbellBroker] = DoorbellBroker
) -> DoorbellBroker:
    """A ``broker_class`` on ``REDIS_URL`` with explicit middleware (no Dramatiq retries: ours
    are counted in Postgres), set as Dramatiq's global broker. Senders (web, sweeper) take the
    default; the worker passes ``workers.doorbell.WaitingBroker``."""
    broker = broker_class(
        client=make_redis(settings.redis_url),
        middleware=[AgeLimit(), TimeLimit(), Callbacks(), Pipelines(), Retries(max_retries=0)],
        # a consumer that died without acking: its messages come back after this (ms);
        # harmless when they do, the claim drops stale messages
        heartbeat_timeout=30_000,
    )
    dramatiq.set_broker(broker)
    return broker


def declare_execute_run(
    broker: RedisBroker, fn=None, queue_name: str = "callboard"
) -> dramatiq.Actor:
    """Declare the ``execute_run`` actor on ``broker``.

    ``fn`` is the body (the worker passes ``workers.actors.execute_run.execute_run``); senders
    (web, sweeper) declare it with a body that is never called.
    """

    def _not_here(run_id: str, version: int) -> None:  # pragma: no cover - senders only
        raise RuntimeError("execute_run runs in `python -m workers` only")

    return dramatiq.Actor(
        fn or _not_here,
        broker=broker,
        actor_name=EXECUTE_RUN,
        queue_name=queue_name,
        priority=0,
        options={"max_retries": 0, "time_limit": ACTOR_TIME_LIMIT_MS},
    )


# Dramatiq refuses delays of 7 days or more; a run due later gets a message at this horizon and
# its actor sends it again for the time left (workers/actors/execute_run.py)
MAX_DELAY_SECONDS = 6 * 24 * 3600


def send_execute_run(
    actor: dramatiq.Actor,
    run_id: uuid.UUID,
    version: int,
    delay_seconds: float = 0.0,
    queue: str | None = None,
) -> bool:
    """Send the wake-up message for ``(run_id, version)``; after COMMIT, never inside a transaction.

    ``delay_seconds`` > 0: a Dramatiq delayed message, delivered after that many seconds (at most
    ``MAX_DELAY_SECONDS``), for a run with a delayed start (``after_seconds``).
    ``queue``: the Dramatiq queue of the run (a task's ``queue``, ``run_queue``); None = the
    actor's (``CALLBOARD_QUEUE``). Workers consume the queues they are given (``--queues``).

    Returns False (and logs) when Redis is unreachable past the client's retries: the run is safe
    in Postgres and the sweeper will re-send it.
    """
    try:
        delay_ms = None
        if delay_seconds > 0:
            delay_ms = int(min(delay_seconds, MAX_DELAY_SECONDS) * 1000) + 1
        if queue and queue != actor.queue_name:
            message = actor.message(str(run_id), int(version)).copy(queue_name=queue)
            actor.broker.enqueue(message, delay=delay_ms)
        elif delay_ms:
            actor.send_with_options(args=(str(run_id), int(version)), delay=delay_ms)
        else:
            actor.send(str(run_id), int(version))
        return True
    except (redis.RedisError, dramatiq.errors.BrokerConnectionError) as exc:
        logger.warning("could not enqueue run %r (sweeper will re-send): %s", str(run_id), exc)
        return False


def run_queue(row: dict) -> str | None:
    """The queue of a run row (``kwargs.config.configurable.queue``, set from the task's
    ``queue`` or the call's), or None for the default queue. Queries that return only ids give
    it as ``queue``."""
    if "queue" in row:
        return row["queue"]
    config = (row.get("kwargs") or {}).get("config") or {}
    return (config.get("configurable") or {}).get("queue")


def start_delay(row: dict) -> float:
    """Seconds from a just-created run's creation to its start (``not_before``, a delayed start),
    0 when it may start at once (both times from the database's clock)."""
    if row.get("not_before") is None:
        return 0.0
    return max((row["not_before"] - row["created_at"]).total_seconds(), 0.0)
