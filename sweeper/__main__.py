"""``python -m sweeper``: APScheduler wiring only; the work is in ``sweeper.jobs``.

The sweep runs every ``SWEEP_INTERVAL_SECONDS`` (default 120), ``coalesce=True`` and
``max_instances=1``: a slow tick is never run twice at once nor caught up in a burst.
"""

from __future__ import annotations

import datetime
import logging
import signal
import sys

from apscheduler.schedulers.blocking import BlockingScheduler

from app.config import Settings
from app.notify import make_redis
from app.store.db import Database
from sweeper.jobs import sweep
from workers.broker import declare_execute_run, make_broker

logger = logging.getLogger("sweeper")


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"
    )
    settings = Settings.from_env()
    db = Database(settings.database_url, min_size=1, max_size=4)
    client = make_redis(settings.redis_url)
    actor = declare_execute_run(make_broker(settings), queue_name=settings.queue_name)

    def tick() -> None:
        try:
            sweep(
                db,
                client,
                actor,
                datetime.datetime.now(datetime.UTC),
                window=settings.heartbeat_seconds,
                interval=settings.sweep_interval_seconds,
                max_attempts=settings.max_attempts,
            )
        except Exception:  # noqa: BLE001 - the next tick tries again
            logger.exception("sweep failed")

    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(
        tick,
        "interval",
        seconds=settings.sweep_interval_seconds,
        id="sweep",
        coalesce=True,
        max_instances=1,
        next_run_time=datetime.datetime.now(datetime.UTC),
    )

    def stop(signum: int, _frame: object) -> None:
        logger.info("%s: stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print("callboard sweeper ready", flush=True)
    scheduler.start()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
