"""``python -m workers``: a Dramatiq ``Worker`` in this process, ``N_JOBS_PER_WORKER`` threads.

Not the ``dramatiq`` CLI (DESIGN.md, "Processes"): its parent forwards SIGTERM to its children,
so a PaaS that signals the whole process group makes the child exit at once with no grace, and
its prefetch (2 × threads) parks messages in a process that cannot run them. Here the prefetch is
``N_JOBS_PER_WORKER``.

Shutdown (SIGINT or SIGTERM, once or to the whole group): stop taking messages; let running runs
finish for ``SHUTDOWN_GRACE_SECONDS`` while heartbeats go on; hand each unfinished run back
(running → pending, fenced, not counted as an attempt) and re-send it; exit 0. A second signal
during the grace period hands back at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import dramatiq

from app import logs
from app.capacity import WORKER_DB_POOL_MAX
from app.config import Settings
from app.graphs import Registry
from app.notify import RUN_CANCEL, Subscriber, channel, make_redis
from app.queue import declare_execute_run, make_broker
from app.store.db import Database
from app.store.vectors import require_vector_extension
from workers import runtime
from workers.actors.execute_run import execute_run
from workers.doorbell import WaitingBroker
from workers.executor import Executor, StopReason
from workers.heartbeat import Heartbeats, make_beat_client

logger = logging.getLogger("workers")

# longest wait of the consumer between two fetches from Redis (milliseconds): Dramatiq's
# consumer backs off up to this both when the queue is empty and when all N_JOBS_PER_WORKER
# slots are busy, so it bounds both the idle pickup latency and how long a freed slot stays
# empty (its default, 1000 ms, would add up to a second to each)
POLL_MS = 20

# longest wait of each shutdown step after the grace period (seconds): settling the hand-backs,
# then closing the executor; a blocked event loop or a node that never returns cannot hold the
# process beyond them
CLOSE_SECONDS = 10.0


def _on_cancel(executor: Executor):
    import json
    import uuid

    def handle(data: str) -> None:
        try:
            message = json.loads(data)
            run_id = uuid.UUID(message["run_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring malformed cancel message %r", data)
            return
        reason = StopReason.ROLLBACK if message.get("action") == "rollback" else StopReason.CANCEL
        if executor.stop(run_id, reason):
            logger.info("run %r: cancel (%s) requested", str(run_id), reason)

    return handle


def parse_queues(argv: list[str], configured: tuple[str, ...], default: str) -> list[str]:
    """The queues this worker consumes: ``--queues a,b`` (Celery's ``-Q a,b`` is accepted too),
    else ``CALLBOARD_QUEUES`` (comma-separated), else the default queue (``CALLBOARD_QUEUE``).
    A task's ``queue`` names one of them; the Procfile can hold one worker line per queue.

    Raises:
        SystemExit: unknown arguments (argparse's usage message)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--queues", "-Q", help="comma-separated queues to consume")
    given = parser.parse_args(argv).queues or ",".join(configured) or default
    queues = [q.strip() for q in given.split(",") if q.strip()]
    return list(dict.fromkeys(queues)) or [default]


def main() -> int:
    # LOG_LEVEL=DEBUG shows, for instance, every message dropped at the claim (a duplicate, a
    # stale version, a busy thread); LOG_FORMAT=json gives each run's lines its fields
    settings = Settings.from_env()
    logs.configure(settings)
    queues = parse_queues(sys.argv[1:], settings.worker_queues, settings.queue_name)
    registry = Registry.load(settings.config_path)
    if registry.deployment is not None and registry.deployment.store_index is not None:
        require_vector_extension(settings.database_url, registry.path)
    worker_id = runtime.make_worker_id()
    n_jobs = settings.n_jobs_per_worker
    db = Database(settings.database_url, min_size=1, max_size=WORKER_DB_POOL_MAX)
    client = make_redis(settings.redis_url)
    broker = make_broker(settings, WaitingBroker)
    actor = declare_execute_run(broker, execute_run, settings.queue_name)
    executor = Executor(registry, settings.database_url, n_jobs, settings.redis_url)
    # the beats get a client of their own that fails fast: a beat retried for seconds inside a
    # Redis outage would come too late once Redis is back (see workers.heartbeat)
    beat_client = make_beat_client(settings.redis_url, settings.heartbeat_seconds)
    heartbeats = Heartbeats(
        beat_client, db, executor, settings.heartbeat_seconds, worker_id, n_jobs=n_jobs
    ).start()
    rt = runtime.Runtime(settings, db, client, registry, executor, heartbeats, actor, worker_id)
    runtime.install(rt)
    cancels = Subscriber(
        client, channel(client, RUN_CANCEL), _on_cancel(executor), "cancel-listener"
    )
    cancels.start()

    signals = threading.Event()
    hurry = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if signals.is_set():
            logger.warning("second %s: handing runs back now", signal.Signals(signum).name)
            hurry.set()
        else:
            logger.info("%s: shutting down", signal.Signals(signum).name)
        signals.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # worker_timeout bounds the Redis consumer's idle long-poll backoff (Dramatiq's default,
    # 1000 ms, would add up to a second of pickup latency to a run created on an idle worker)
    for queue in queues:
        broker.declare_queue(queue)
    worker = dramatiq.Worker(
        broker, worker_threads=n_jobs, queues=set(queues), worker_timeout=POLL_MS
    )
    worker.queue_prefetch = n_jobs
    worker.start()
    logger.info("worker %s ready: %d jobs, queues %s", worker_id, n_jobs, ", ".join(queues))
    print(f"callboard worker ready {worker_id}", flush=True)

    while not signals.wait(1.0):
        pass
    shutdown(rt, worker, hurry)
    cancels.stop()
    heartbeats.stop()
    beat_client.close()
    closed = executor.close(timeout=CLOSE_SECONDS)
    db.close()
    logger.info("worker %s stopped", worker_id)
    if not closed:
        # a node still blocks the loop or a pool thread: the interpreter would wait for it at
        # exit; its attempts are lost to this process anyway (their heartbeats stopped)
        logging.shutdown()
        os._exit(0)
    return 0


def shutdown(rt: runtime.Runtime, worker: dramatiq.Worker, hurry: threading.Event) -> None:
    """Stop taking messages, give running runs the grace period, hand the rest back."""
    rt.stopping.set()
    for thread in worker.workers:
        thread.pause()  # finish the current message, take no other
    deadline = time.monotonic() + rt.settings.shutdown_grace_seconds
    while rt.executor.active_run_ids and time.monotonic() < deadline and not hurry.is_set():
        hurry.wait(0.05)
    left = rt.executor.stop_all(StopReason.SHUTDOWN)
    if left:
        logger.info("handing %d unfinished run(s) back", left)
    # settle (hand back) before the consumers go away; a thread stuck behind a blocked event
    # loop does not get there: the whole wait is bounded, not each thread's
    deadline = time.monotonic() + CLOSE_SECONDS
    for thread in worker.workers:
        thread.paused_event.wait(timeout=max(deadline - time.monotonic(), 0))
    worker.stop(timeout=int(CLOSE_SECONDS * 1000))


if __name__ == "__main__":
    sys.exit(main())
