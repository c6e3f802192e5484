"""The worker's side of Celery-style tasks (``app.tasks``): retries, rate limits, canvas links.

Called by the ``execute_run`` actor around an attempt of a task run; runs of other graphs pass
through untouched.

- **Rate limits** (``rate_limit="10/s"``): before the task runs, a slot of Dramatiq's
  ``BucketRateLimiter`` (Redis backend: one key per task and bucket, shared by every worker) is
  taken; the thread waits for the next bucket while none is left. ``n/period`` is enforced as 1
  start per ``period/n`` (buckets of at least 100 ms: more starts per bucket beyond 10/s), so
  starts are spread evenly rather than bunched at each period's beginning.
- **Retries** (``autoretry_for``): a task whose error is one of them raises
  ``callboard.errors.Retry``; while ``max_retries`` allow, the run goes back to pending, due after
  the task's backoff (``retry_run``: one more ``retries``, not an attempt), and its message is
  sent with that delay; afterwards it ends ``error`` with the task's own error.
- **Canvas**: a run that others wait for (``kwargs.links``) finishes in a transaction that also
  creates the runs now due (``app.canvas.release_in``); they are woken after COMMIT. A run that
  ends without success fails the runs waiting for it in that transaction (``app.canvas.fail_in``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from app.canvas import fail_in, release_in
from app.queue import run_queue, send_execute_run, start_delay
from app.runs import RunStatus
from app.store import canvas as canvas_store
from app.store.runs import Claim
from workers import runtime
from workers.executor import Outcome

logger = logging.getLogger(__name__)

RETRY_ERROR = "Retry"  # the type name of callboard.errors.Retry, as the executor records it
MIN_BUCKET_MS = 100
RATE_KEY = "callboard:rate:{task}"

_limiters: dict[str, BucketRateLimiter] = {}


def limiter_for(client: redis.Redis, task: Any) -> BucketRateLimiter | None:
    """The task's rate limiter (one per task and process, on Redis), or None without a limit."""
    if task.options.rate_limit is None:
        return None
    limiter = _limiters.get(task.name)
    if limiter is None:
        from callboard.task import parse_rate_limit

        count, period = parse_rate_limit(task.options.rate_limit)
        spacing_ms = period * 1000 / count
        bucket = max(int(round(spacing_ms)), MIN_BUCKET_MS)
        limit = max(int(round(bucket / spacing_ms)), 1)
        backend = RedisBackend(client=client)
        limiter = BucketRateLimiter(
            backend, RATE_KEY.format(task=task.name), limit=limit, bucket=bucket
        )
        _limiters[task.name] = limiter
    return limiter


def wait_for_rate_limit(rt: runtime.Runtime, claim: Claim) -> bool:
    """Block until the task of ``claim`` may start under its rate limit. Returns False when the
    worker began stopping meanwhile (hand the run back)."""
    task = rt.registry.tasks.get(claim.run["graph_id"])
    limiter = limiter_for(rt.redis, task) if task is not None else None
    if limiter is None:
        return True
    while True:
        with limiter.acquire(raise_on_failure=False) as acquired:
            if acquired:
                return True
        now_ms = time.time() * 1000
        wait_ms = limiter.bucket - (now_ms % limiter.bucket) + 1
        if rt.stopping.wait(wait_ms / 1000):
            return False


def retry_if_asked(rt: runtime.Runtime, claim: Claim, outcome: Outcome) -> bool:
    """When the task raised ``Retry``: schedule the retry and return True, or (no retry left,
    or the run can no longer be retried) put the task's own error in ``outcome`` and return
    False (the caller finishes the run). ``outcome`` is unchanged until then, so a settle
    tried again after a Postgres outage decides again."""
    error = outcome.error or {}
    if outcome.status != RunStatus.ERROR or error.get("error") != RETRY_ERROR:
        return False
    name, _, message = str(error.get("message", "")).partition(": ")
    original = {"error": name, "message": message}
    task = rt.registry.tasks.get(claim.run["graph_id"])
    retries = int(claim.run.get("retries") or 0)
    limit = task.options.max_retries if task is not None else 0
    row = None
    if task is not None and (limit is None or retries < limit):
        delay = task.options.retry_delay(retries)
        row = canvas_store.retry(rt.db, claim, delay_seconds=delay, error=original)
    if row is None:  # no retry left, the lease was lost, or a cancel was asked: finish it
        logger.info("run %r: %s, no retry (%d made)", str(claim.run_id), name, retries)
        outcome.error = original
        return False
    logger.info("run %r: %s, retry %d in %.3f s", str(claim.run_id), name, retries + 1, delay)
    send_execute_run(rt.actor, claim.run_id, row["version"], delay, queue=run_queue(row))
    return True


class Releases:
    """``finish``'s ``then`` for a linked run: creates the runs now due inside the finish's
    transaction, and wakes them after COMMIT (``wake``)."""

    def __init__(self, rt: runtime.Runtime) -> None:
        self.rt = rt
        self.created: list[dict] = []

    def __call__(self, conn: Any, finished: dict) -> None:
        self.created = []  # a retried transaction starts again
        if finished["status"] == RunStatus.SUCCESS:
            self.created = release_in(conn, finished, self.rt.registry.tasks)
        else:  # the runs waiting for it fail with it, never run
            fail_in(conn, finished, self.rt.registry.tasks)

    def wake(self) -> None:
        for row in self.created:
            logger.info("run %r created by the end of the run it waited for", str(row["run_id"]))
            send_execute_run(
                self.rt.actor, row["run_id"], row["version"], start_delay(row), queue=run_queue(row)
            )


def releases_for(rt: runtime.Runtime, claim: Claim) -> Releases | None:
    """A ``Releases`` when runs wait for the run of ``claim``, else None."""
    return Releases(rt) if claim.run["kwargs"].get("links") else None
