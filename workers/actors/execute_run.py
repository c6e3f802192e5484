"""``execute_run(run_id, version)``: claim, execute, settle one attempt of a run.

1. Claim (pending → running) with the version-checked UPDATE; no row = a duplicate or stale
   message, or the thread is busy: ack and drop (the run that frees the thread wakes the next).
   A delayed run (``after_seconds``) whose message came early is sent again for the time left.
2. Execute the graph on the process's executor while the heartbeat thread keeps the lease.
3. Settle with the claim_token-checked UPDATE: finish, or hand back; a lost lease discards; a
   cancel with ``action=rollback`` deletes the run and the checkpoints it wrote.
4. After COMMIT: announce the end (Redis pub/sub), delete a temporary thread, wake the thread's
   next pending run; then POST the run's webhook, if it has one (the end's statement recorded
   the delivery; the sweeper retries it if this attempt fails or this process dies).
"""

from __future__ import annotations

import logging
import time
import uuid

from app import webhooks
from app.errors import InvalidInput, StoreUnavailable
from app.logs import run_context
from app.queue import run_queue, send_execute_run
from app.run_end import after_run_end
from app.runs import RunStatus, ThreadStatus
from app.store import runs as run_store
from app.store import wakeups
from app.store.runs import Claim
from workers import runtime, tasks
from workers.executor import Outcome, Verdict

logger = logging.getLogger(__name__)

# pause between two settles that ran out of the store's retry budget (seconds)
SETTLE_RETRY_SECONDS = 1.0


def execute_run(run_id: str, version: int) -> None:
    """The actor body (declared in ``app.queue.declare_execute_run``). Every line it logs
    carries the run's fields (``app.logs.run_context``)."""
    with run_context(run_id=run_id):
        rt = runtime.current()
        if rt.heartbeats.watchdog.stalled():
            # this process's attempts cannot move: leave the run to another worker (the
            # sweeper sends its message again, as for any pending run whose message is gone)
            logger.warning("run %r: not claimed, the event loop is stalled", run_id)
            return
        claim = run_store.claim(rt.db, uuid.UUID(run_id), int(version), rt.worker_id)
        if claim is None:
            logger.debug(
                "run %r v%s: not claimed (duplicate, stale, or thread busy)", run_id, version
            )
            _resend_if_early(rt, uuid.UUID(run_id))
            owed = wakeups.owed_wake_up(rt.db, uuid.UUID(run_id))
            if owed is not None:  # the thread freed up meanwhile (app/store/wakeups.py)
                send_execute_run(rt.actor, owed["run_id"], owed["version"])
            return
        with run_context(
            thread_id=claim.thread_id, graph_id=claim.run["graph_id"], attempt=claim.attempt
        ):
            _execute(rt, claim)


def _execute(rt: runtime.Runtime, claim: Claim) -> None:
    logger.info("run %r: attempt %d claimed", str(claim.run_id), claim.attempt)
    rt.heartbeats.add(claim.run_id, claim.claim_token)
    try:
        # a task's rate limit (workers.tasks) is waited for with the run claimed and beating
        if rt.stopping.is_set() or not tasks.wait_for_rate_limit(rt, claim):
            outcome = Outcome(Verdict.HAND_BACK)
        else:
            outcome = rt.executor.execute(
                claim, run_timeout(claim, rt.settings.run_timeout_seconds)
            )
        # beat until the outcome is recorded: a settle that waits out a Postgres outage must
        # not look like a dead worker to the sweeper
        _settle_while_leased(rt, claim, outcome)
    finally:
        rt.heartbeats.remove(claim.run_id, claim.claim_token)


def _settle_while_leased(rt: runtime.Runtime, claim: Claim, outcome: Outcome) -> None:
    """``settle``, tried again for as long as Postgres is unavailable: the heartbeat goes on
    meanwhile, so no sweeper can take the run, and every statement of the settle is fenced on
    the claim token (a lease lost meanwhile makes it a no-op). Giving up would drop a finished
    result and execute the run again, or end it ``MaxAttemptsExceeded`` after its last one."""
    while True:
        try:
            settle(rt, claim, outcome)
            return
        except StoreUnavailable as exc:
            logger.warning(
                "run %r: Postgres unavailable while settling attempt %d, trying again: %s",
                str(claim.run_id),
                claim.attempt,
                exc,
            )
            time.sleep(SETTLE_RETRY_SECONDS)


def _resend_if_early(rt: runtime.Runtime, run_id: uuid.UUID) -> None:
    """A delayed run whose message came before its start (clock skew between this process and
    Postgres, or a start beyond Dramatiq's longest delay): send it again for the time left."""
    early = run_store.start_delay(rt.db, run_id)
    if early is not None:
        logger.info(
            "run %r: not due for %.3f s, message sent again", str(run_id), early["wait_seconds"]
        )
        send_execute_run(
            rt.actor,
            run_id,
            early["version"],
            max(early["wait_seconds"], 0.001),
            queue=early["queue"],
        )


def run_timeout(claim: Claim, default: float) -> float:
    """The run's time limit in seconds: ``configurable.run_timeout_seconds`` of the run's config
    (set on the assistant, or on the run, checked by the API) when given, else ``default``
    (``RUN_TIMEOUT_SECONDS``)."""
    value = claim.run["kwargs"]["config"].get("configurable", {}).get("run_timeout_seconds")
    return default if value is None else float(value)


def settle(rt: runtime.Runtime, claim: Claim, outcome: Outcome) -> None:
    """Record ``outcome`` for the attempt held by ``claim``, then do the after-COMMIT work."""
    run_id = str(claim.run_id)
    if outcome.verdict == Verdict.DISCARD:
        logger.warning("run %r: lease lost, result of attempt %d discarded", run_id, claim.attempt)
        return
    if outcome.verdict in (Verdict.REQUEUE, Verdict.HAND_BACK):
        reason = (outcome.error or {}).get("message", outcome.verdict.value)
        row = run_store.requeue(
            rt.db,
            claim,
            reason=reason,
            max_attempts=rt.settings.max_attempts,
            refund_attempt=outcome.verdict == Verdict.HAND_BACK,
        )
        if row is None:
            logger.warning("run %r: lease lost before hand-back", run_id)
        elif row["status"] == RunStatus.PENDING:
            logger.info("run %r: handed back (%s)", run_id, reason)
            send_execute_run(rt.actor, claim.run_id, row["version"], queue=run_queue(row))
        else:  # error (no attempt left) or interrupted (a cancel was asked meanwhile)
            logger.error("run %r: %s instead of a retry: %s", run_id, row["status"], row["error"])
            _after_end(rt, row)
        return
    if outcome.verdict == Verdict.ROLLBACK:
        deleted = run_store.rollback(rt.db, claim)
        if deleted is None:
            logger.warning("run %r: lease lost before rollback", run_id)
            return
        logger.info("run %r: rolled back (deleted with its checkpoints)", run_id)
        after_run_end(rt.db, rt.redis, rt.actor, {**deleted, "status": RunStatus.INTERRUPTED})
        return
    if tasks.retry_if_asked(rt, claim, outcome):
        return  # a task's retry (autoretry_for), due after its backoff
    status = outcome.status
    assert status is not None
    releases = tasks.releases_for(rt, claim)  # a canvas: the runs waiting for this one
    try:
        row = run_store.finish(
            rt.db,
            claim,
            status,
            output=_result(outcome),
            error=outcome.error,
            values=outcome.values,
            thread_status=ThreadStatus.INTERRUPTED if outcome.interrupted else None,
            interrupts=outcome.interrupts,
            checkpoint=outcome.checkpoint,
            then=releases,
        )
    except InvalidInput as exc:  # e.g. a NUL character, which jsonb cannot hold
        error = {
            "error": "UnstorableResult",
            "message": f"the run's result cannot be stored: {exc}",
        }
        logger.warning("run %r: %s", run_id, error["message"])
        status = RunStatus.ERROR
        row = run_store.finish(rt.db, claim, status, output={"__error__": error}, error=error)
    if row is None:
        logger.warning("run %r: lease lost at finish, result discarded", run_id)
        return
    duration = _attempt_seconds(row)
    logger.info("run %r: %s in %.3f s", run_id, status, duration, extra={"duration": duration})
    if releases is not None:
        releases.wake()
    _after_end(rt, row)


def _attempt_seconds(row: dict) -> float:
    """Seconds from the attempt's claim to the run's end (Postgres' clock)."""
    return round((row["ended_at"] - row["claimed_at"]).total_seconds(), 3)


def _after_end(rt: runtime.Runtime, row: dict) -> None:
    """After the COMMIT that ended the run ``row``: the common after-end work, then the first
    attempt at its webhook, on a sender thread (a slow receiver holds no run slot)."""
    after_run_end(rt.db, rt.redis, rt.actor, row)
    if (row.get("kwargs") or {}).get("webhook"):
        webhooks.deliver_in_background(rt.db, row["run_id"])


def _result(outcome: Outcome) -> object:
    """What ``join`` answers: the final values, or ``{"__error__": …}`` as the official server."""
    if outcome.status == RunStatus.SUCCESS:
        return outcome.output
    if outcome.error:
        return {"__error__": outcome.error}
    return outcome.values
