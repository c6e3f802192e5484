"""``execute_run(run_id, version)``: claim, execute, settle one attempt of a run.

1. Claim (pending → running) with the version-checked UPDATE; no row = a duplicate or stale
   message, or the thread is busy: ack and drop (the run that frees the thread wakes the next).
2. Execute the graph on the process's executor while the heartbeat thread keeps the lease.
3. Settle with the claim_token-checked UPDATE: finish, or hand back; a lost lease discards.
4. After COMMIT: announce the end (Redis pub/sub), delete a temporary thread, wake the thread's
   next pending run.
"""

from __future__ import annotations

import logging
import uuid

from app.errors import InvalidInput
from app.runs import RunStatus, ThreadStatus
from app.store import runs as run_store
from app.store.runs import Claim
from workers import runtime
from workers.broker import send_execute_run
from workers.executor import Outcome, Verdict
from workers.lifecycle import after_run_end

logger = logging.getLogger(__name__)


def execute_run(run_id: str, version: int) -> None:
    """The actor body (declared in ``workers.broker.declare_execute_run``)."""
    rt = runtime.current()
    claim = run_store.claim(rt.db, uuid.UUID(run_id), int(version), rt.worker_id)
    if claim is None:
        logger.debug("run %r v%s: not claimed (duplicate, stale, or thread busy)", run_id, version)
        return
    logger.info("run %r: attempt %d claimed", run_id, claim.attempt, extra={"run_id": run_id})
    rt.heartbeats.add(claim.run_id, claim.claim_token)
    try:
        if rt.stopping.is_set():
            outcome = Outcome(Verdict.HAND_BACK)
        else:
            outcome = rt.executor.execute(
                claim, run_timeout(claim, rt.settings.run_timeout_seconds)
            )
    finally:
        rt.heartbeats.remove(claim.run_id)
    settle(rt, claim, outcome)


def run_timeout(claim: Claim, default: float) -> float:
    """The run's time limit in seconds: ``configurable.run_timeout_seconds`` of the run's config
    (set on the assistant, or on the run) when given, else ``RUN_TIMEOUT_SECONDS``."""
    configurable = (claim.run["kwargs"].get("config") or {}).get("configurable") or {}
    value = configurable.get("run_timeout_seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


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
            send_execute_run(rt.actor, claim.run_id, row["version"])
        else:
            logger.error("run %r: gave up after %d attempts: %s", run_id, claim.attempt, reason)
            after_run_end(rt.db, rt.redis, rt.actor, row)
        return
    status = outcome.status if outcome.verdict == Verdict.FINISH else RunStatus.INTERRUPTED
    assert status is not None
    try:
        row = run_store.finish(
            rt.db,
            claim,
            status,
            output=_result(outcome),
            error=outcome.error,
            values=outcome.values,
            thread_status=ThreadStatus.INTERRUPTED if outcome.interrupted else None,
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
    logger.info("run %r: %s", run_id, status, extra={"run_id": run_id})
    if outcome.verdict == Verdict.ROLLBACK:
        run_store.delete(rt.db, claim.run_id, claim.thread_id)
    after_run_end(rt.db, rt.redis, rt.actor, row)


def _result(outcome: Outcome) -> object:
    """What ``join`` answers: the final values, or ``{"__error__": …}`` as the official server."""
    if outcome.status == RunStatus.SUCCESS:
        return outcome.output
    if outcome.error:
        return {"__error__": outcome.error}
    return outcome.values
