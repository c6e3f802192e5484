"""``python -m sweeper``: APScheduler wiring only; the work is in ``sweeper.jobs``.

The sweep runs every ``SWEEP_INTERVAL_SECONDS`` (default 120), ``coalesce=True`` and
``max_instances=1``: a slow tick is never run twice at once nor caught up in a burst. Due crons
are fired (``sweeper.crons``) every ``CRON_INTERVAL_SECONDS`` (default 10), the same way; expired
threads and store items are removed (``sweeper.threads``) every ``SWEEP_INTERVAL_SECONDS``.
Task runs whose ``result_expires`` passed are deleted (``sweeper.results``) every
``SWEEP_INTERVAL_SECONDS``; runs created inside a caller's transaction (``enqueue_in``) get their
message from the ``NOTIFY`` listener (``sweeper.enqueued``). Due webhook attempts are sent
(``sweeper.webhooks``) every ``SWEEP_INTERVAL_SECONDS`` or ``CALLBOARD_WEBHOOK_RETRY_SECONDS``,
whichever is shorter.
"""

from __future__ import annotations

import datetime
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler

from app import logs
from app.capacity import SWEEPER_DB_POOL_MAX
from app.config import Settings
from app.deployment import Deployment
from app.notify import make_redis
from app.queue import declare_execute_run, make_broker
from app.store.db import Database
from app.webhooks import WebhookPolicy
from sweeper.crons import fire_due_crons
from sweeper.enqueued import CreatedRunsListener
from sweeper.jobs import sweep
from sweeper.results import expire_results, fail_waiting_runs
from sweeper.threads import sweep_ttl
from sweeper.webhooks import interval_seconds, retry_webhooks

logger = logging.getLogger("sweeper")


def ttl_interval_seconds(settings: Settings) -> float:
    """How often the TTL job runs: ``checkpointer.ttl.sweep_interval_minutes`` of
    ``langgraph.json`` when given (LangGraph's setting), else ``SWEEP_INTERVAL_SECONDS``."""
    if not Path(settings.config_path).exists():
        return settings.sweep_interval_seconds  # the sweeper needs no graph registry
    ttl = Deployment.load(settings.config_path).checkpointer_ttl
    if ttl is not None and "sweep_interval_minutes" in ttl.given:
        return ttl.sweep_interval_minutes * 60
    return settings.sweep_interval_seconds


def default_thread_ttl(settings: Settings) -> dict | None:
    """The TTL of the threads stateless crons create (``{"ttl_minutes", "ttl_strategy"}``):
    ``checkpointer.ttl.default_ttl`` of ``langgraph.json``, as ``POST /threads`` applies it;
    None when there is none."""
    if not Path(settings.config_path).exists():
        return None
    ttl = Deployment.load(settings.config_path).checkpointer_ttl
    if ttl is None or ttl.default_ttl is None:
        return None
    return {"ttl_minutes": ttl.default_ttl, "ttl_strategy": ttl.strategy}


def run_job(db: Database, name: str, job: Callable[[datetime.datetime], object]) -> None:
    """One tick of ``job``: ``job(now)`` with ``now`` the database's clock (``now()``), never
    this host's: the jobs compare it with timestamps Postgres wrote (claims, leases, TTLs, cron
    dates), so a host whose clock is off would requeue live runs, re-send or expire early. A
    failure is logged; the next tick tries again."""
    try:
        job(db.now())
    except Exception:  # noqa: BLE001 - the next tick tries again
        logger.exception("%s failed", name)


def main() -> int:
    settings = Settings.from_env()
    logs.configure(settings)
    db = Database(settings.database_url, min_size=1, max_size=SWEEPER_DB_POOL_MAX)
    client = make_redis(settings.redis_url)
    actor = declare_execute_run(make_broker(settings), queue_name=settings.queue_name)

    scheduler = BlockingScheduler(timezone="UTC")

    def every(seconds: float, name: str, job: Callable[[datetime.datetime], object]) -> None:
        """Run ``job(now)`` every ``seconds``, first at once; a failure waits for the next tick."""
        scheduler.add_job(
            run_job,
            "interval",
            args=(db, name, job),
            seconds=seconds,
            id=name,
            name=name,  # APScheduler's lines name the job (not main.<locals>.every.<locals>.tick)
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.datetime.now(datetime.UTC),
        )

    every(
        settings.sweep_interval_seconds,
        "sweep",
        lambda now: sweep(
            db,
            client,
            actor,
            now,
            window=settings.heartbeat_seconds,
            interval=settings.sweep_interval_seconds,
            max_attempts=settings.max_attempts,
        ),
    )
    thread_ttl = default_thread_ttl(settings)
    every(
        settings.cron_interval_seconds,
        "crons",
        lambda now: fire_due_crons(db, client, actor, now, thread_ttl=thread_ttl),
    )
    every(ttl_interval_seconds(settings), "ttl", lambda now: sweep_ttl(db, now))
    webhook_policy = WebhookPolicy.from_settings(settings)
    every(
        interval_seconds(settings.sweep_interval_seconds, webhook_policy),
        "webhooks",
        lambda now: retry_webhooks(db, now, webhook_policy),
    )

    every(settings.sweep_interval_seconds, "results", lambda now: expire_results(db, now))
    every(settings.sweep_interval_seconds, "canvas", lambda _now: fail_waiting_runs(db))
    listener = CreatedRunsListener(settings.database_url, actor)  # enqueue_in's NOTIFY
    listener.start()

    def stop(signum: int, _frame: object) -> None:
        logger.info("%s: stopping", signal.Signals(signum).name)
        listener.stop()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("callboard sweeper ready", flush=True)
    scheduler.start()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
