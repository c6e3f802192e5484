"""``app/queue.py`` and ``workers/doorbell.py``: an immediate enqueue rings its queue's
doorbell, and an idle consumer wakes on the ring instead of sleeping out its timeout (real
Redis, real Dramatiq)."""

from __future__ import annotations

import threading
import uuid

import dramatiq
import redis

from app.notify import make_redis
from app.queue import doorbell_key
from tests.support import wait_for
from workers.doorbell import WaitingBroker


def _broker(redis_url: str) -> tuple[WaitingBroker, dramatiq.Actor, str]:
    broker = WaitingBroker(client=make_redis(redis_url), middleware=[])
    queue = f"bell_{uuid.uuid4().hex[:8]}"
    actor = dramatiq.Actor(
        lambda i: None, broker=broker, actor_name=queue, queue_name=queue, priority=0, options={}
    )
    return broker, actor, queue


def test_an_immediate_enqueue_rings_once_and_a_delayed_one_does_not(redis_url):
    broker, actor, queue = _broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    key = doorbell_key(broker.namespace, queue)
    actor.send_with_options(args=(0,), delay=60_000)
    assert client.llen(key) == 0
    for i in range(3):
        actor.send(i)
    assert client.llen(key) == 1  # rings do not pile up
    assert 0 < client.pttl(key) <= 60_000
    broker.close()


def test_an_idle_consumer_wakes_on_the_ring_not_at_its_timeout(redis_url):
    broker, actor, queue = _broker(redis_url)
    client = redis.Redis.from_url(redis_url)
    # a 60 s idle timeout: without the ring, the consumer would not look again for a minute
    consumer = broker.consume(queue, prefetch=1, timeout=60_000)
    got: list = []
    woke = threading.Event()

    def consume() -> None:
        first = next(consumer)  # empty fetch, then waits on the doorbell
        got.append(first)
        got.append(next(consumer))
        woke.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_for(
        lambda: any(c.get("cmd") == "blpop" for c in client.client_list()),
        timeout=10,
        what="the consumer waiting on the doorbell",
    )
    actor.send(7)
    assert woke.wait(timeout=10), "the consumer did not wake on the ring"
    assert got[0] is None  # the wait ended, then the fetch found the message
    assert got[1] is not None and got[1].args == (7,)
    consumer.ack(got[1])
    consumer.close()
    broker.close()
