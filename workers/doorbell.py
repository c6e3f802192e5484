"""Pickup without a backoff sleep: the consuming half of the doorbell (``app/queue.py`` rings it).

Dramatiq's Redis consumer (``dramatiq.brokers.redis._RedisConsumer``) sleeps an exponential
backoff, up to the worker's ``worker_timeout``, after each empty fetch: an idle worker picks a
new message up ≈ 8 ms late on average with ``worker_timeout=20`` (issue 7). The senders'
``app.queue.DoorbellBroker`` rings the queue's doorbell (a one-element Redis list,
``<namespace>:<queue>.doorbell``) after each immediate enqueue; ``WaitingBroker``'s consumer,
instead of sleeping, waits on that list with ``BLPOP`` for at most the same timeout: it fetches
as soon as a message arrives. A stale ring (its message was already fetched) costs one empty
fetch; a lost ring (Redis flushed) costs the timeout, as before. Delayed messages are left to
Dramatiq's own polling. While every prefetch slot is busy the consumer looks again every
``BUSY_POLL_MS`` instead of its backoff.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

from app.queue import DoorbellBroker, doorbell_key

BUSY_POLL_MS = 2  # every prefetch slot taken: how soon to look again for a freed one


class WaitingBroker(DoorbellBroker):
    """The worker's broker: rings as the senders' ``DoorbellBroker`` does, and its consumers
    wait on the doorbell instead of sleeping (module docstring). Same constructor as
    ``RedisBroker``; build it with ``app.queue.make_broker(settings, WaitingBroker)``."""

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return DoorbellConsumer


class DoorbellConsumer(_RedisConsumer):
    """``_RedisConsumer`` (dramatiq 2.x) whose idle wait is a ``BLPOP`` on the doorbell.

    ``__next__`` follows Dramatiq's own (the message cache first, then a fetch of up to the
    free prefetch slots); only the wait after an empty fetch differs (``_wait``). The delay
    queue (``<queue>.DQ``) has no doorbell and keeps Dramatiq's backoff.
    """

    def __next__(self) -> MessageProxy | None:
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                messages: list[Any] = []
                if self.outstanding_message_count < self.prefetch:
                    self.message_cache = messages = self.broker.do_fetch(
                        self.queue_name, self.prefetch - self.outstanding_message_count
                    )
                if messages:
                    continue
                self._wait()
                return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None

    def _wait(self) -> None:
        """Wait for a ring, at most the consumer's timeout (milliseconds). When every prefetch
        slot is taken, sleep ``BUSY_POLL_MS`` only: a slot frees when a worker thread's ack
        reaches this (the consumer's) thread, which happens between two ``__next__`` calls, so
        a freed slot is refilled within that (no Redis call while busy)."""
        if self.queue_name.endswith(".DQ"):  # delayed messages: Dramatiq's own backoff
            self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
            time.sleep(backoff_ms / 1000)
        elif self.outstanding_message_count >= self.prefetch:
            time.sleep(min(BUSY_POLL_MS, self.timeout) / 1000)
        else:
            key = doorbell_key(self.broker.namespace, self.queue_name)
            self.broker.client.blpop([key], max(self.timeout, 1) / 1000)
