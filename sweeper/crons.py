"""The sweeper's cron job: create the run of every due cron occurrence, a plain function of
``now`` (tests call it directly, with any ``now``).

- Exactly one run per occurrence, with any number of sweepers: ``app.store.crons.fire_due``
  locks the due crons ``FOR UPDATE SKIP LOCKED`` and, in one transaction, inserts each run and
  moves ``next_run_date`` on. No advisory lock: two sweepers simply share the due crons.
- Missed occurrences (no sweeper ran for a while) coalesce: a cron that is due fires once, and
  its next occurrence is the first one after ``now``, never one in the past.
- ``end_time``: no occurrence after it gets a run; the cron's ``next_run_date`` becomes null.
- Disabled crons are not fired.
- The runs' messages are sent after COMMIT; if Redis is down the runs stay pending and the
  sweep's ``resend_pending_runs`` sends them later.

``python -m sweeper`` runs this job every ``CRON_INTERVAL_SECONDS`` (default 10): schedules
have minute resolution, so a run starts at most that long after its occurrence.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

import dramatiq
import redis

from app.crons import InvalidSchedule, InvalidTimezone, Schedule, run_request
from app.errors import CallboardError
from app.notify import publish_cancel, publish_run_done
from app.queue import run_queue, send_execute_run
from app.run_requests import build_run
from app.store import cancels as cancel_store
from app.store import crons as cron_store
from app.store.db import Database
from app.store.run_creation import NewRun
from app.webhook_target import WebhookHostUnresolved

logger = logging.getLogger(__name__)

BATCH = 100  # crons fired per transaction
MAX_BATCHES = 50  # per call: a huge backlog is finished by the next calls


def plan_occurrence(
    cron: dict,
    assistant: dict | None,
    now: datetime.datetime,
    thread_ttl: dict | None = None,
) -> tuple[NewRun | None, datetime.datetime | None]:
    """For a due ``cron`` (a row): the run to insert (``build_run``'s, or None when there must
    be none) and the cron's next occurrence (the first after ``now``; None after ``end_time``).
    A stateless cron's run creates its thread with ``thread_ttl`` (``{"ttl_minutes",
    "ttl_strategy"}``, ``checkpointer.ttl``'s default). Never raises: a cron that cannot run is
    logged and moved on."""
    cron_id = str(cron["cron_id"])
    try:
        schedule = Schedule.parse(cron["schedule"], cron["timezone"])
        next_run_date = schedule.next_until(now, cron["end_time"])
    except (InvalidSchedule, InvalidTimezone) as exc:
        logger.error("cron %r: its schedule no longer parses (%s); it stops", cron_id, exc)
        return None, None
    end_time = cron["end_time"]
    if end_time is not None and cron["next_run_date"] > end_time:
        return None, next_run_date  # patched so that this occurrence is past the end
    if assistant is None:
        logger.error("cron %r: assistant %s is gone; no run", cron_id, cron["assistant_id"])
        return None, next_run_date
    try:
        run = build_run(assistant, run_request(cron), cron["thread_id"])
    except WebhookHostUnresolved as exc:
        following = schedule.next_until(cron["next_run_date"], cron["end_time"])
        if exc.transient and (following is None or following > now):
            # a resolver failing for a moment: this occurrence stays due (the next tick tries
            # again), until the following one is due
            logger.warning("cron %r: %s; trying this occurrence again", cron_id, exc)
            return None, cron["next_run_date"]
        logger.error("cron %r: its payload builds no run (%s)", cron_id, exc)
        return None, next_run_date
    except CallboardError as exc:
        logger.error("cron %r: its payload builds no run (%s)", cron_id, exc)
        return None, next_run_date
    if cron["thread_id"] is None and thread_ttl is not None:
        run = dataclasses.replace(run, thread_ttl=thread_ttl)
    if cron.get("user_id") is not None:  # created with auth on: runs in its creator's name
        run = dataclasses.replace(run, new_thread_metadata=dict(cron["metadata"] or {}))
    return run, next_run_date


def _announce(client: redis.Redis, cancelled: cancel_store.Cancelled) -> None:
    """After COMMIT: tell the workers of the runs a multitask strategy interrupt/rollback
    superseded to stop them, and announce the end of the pending ones that ended (as the API
    does after creating a run; the new run is queued behind them, so nothing is woken)."""
    for run in cancelled.stopping:
        publish_cancel(client, run["run_id"], cancelled.action)
    for run in cancelled.ended:
        publish_run_done(client, run["run_id"])


def fire_due_crons(
    db: Database,
    client: redis.Redis | None,
    actor: dramatiq.Actor,
    now: datetime.datetime,
    *,
    thread_ttl: dict | None = None,
) -> int:
    """Create one run for each enabled cron due at ``now`` (an aware datetime) and send the runs'
    messages; return how many runs were created.

    Parameters:
        client: Redis, to announce the runs a new run supersedes (multitask strategy
            interrupt/rollback); None skips that (the workers' lease checks notice the cancels).
        actor: the ``execute_run`` actor whose messages wake the workers.
        thread_ttl: the TTL of the threads stateless crons create (``checkpointer.ttl``'s
            default, ``{"ttl_minutes", "ttl_strategy"}``); None: no TTL.
    """
    created = 0
    for _ in range(MAX_BATCHES):
        fired = cron_store.fire_due(
            db,
            now,
            lambda cron, assistant: plan_occurrence(cron, assistant, now, thread_ttl),
            limit=BATCH,
        )
        for item in fired:
            if item.created is None:
                continue
            created += 1
            run = item.created.row
            logger.info(
                "cron %r: occurrence %s -> run %r (next: %s)",
                str(item.cron_id),
                item.occurrence.isoformat(),
                str(run["run_id"]),
                item.next_run_date.isoformat() if item.next_run_date else "none",
            )
            if item.created.superseded is not None and client is not None:
                _announce(client, item.created.superseded)
            send_execute_run(actor, run["run_id"], run["version"], queue=run_queue(run))
        if len(fired) < BATCH:
            break
    return created
