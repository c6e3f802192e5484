"""Runs: reads and every transition of the state machine (``app/runs.py``), as typed outcomes
(``runs.sql``). Creation is ``app.store.run_creation``; cancels ``app.store.cancels``.

Each transition is one conditional UPDATE. "No row back" is never a silent success: ``claim``
returns None, ``finish`` and ``requeue`` return None, and the caller drops its work. Because a
retried statement may follow a COMMIT whose acknowledgement was lost, the claim, the finish and
the requeue check, on "no row", whether the row already carries their own outcome.

The sweeper's side (``stale_runs``, ``requeue_lapsed``, ``mark_pending_resent``): attempts whose
heartbeat lapsed go back to pending, and pending runs whose message may be lost are sent again.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg.errors

from app.runs import THREAD_STATUS_AFTER, RunStatus, ThreadStatus
from app.store.cancels import in_transaction, rollback_in
from app.store.checkpoints import NO_CHECKPOINT, CheckpointRows
from app.store.db import QUERIES, Database, jsonb


@dataclass(frozen=True)
class Claim:
    """A won claim: the attempt this worker now owns.

    ``claim_token`` fences every later write of the attempt; ``version`` is the run's version
    after the claim (the requeue predicate needs it).
    """

    run: dict[str, Any]
    claim_token: uuid.UUID
    version: int
    # the thread's latest checkpoint at claim time: {"checkpoint_id", "channel_versions",
    # "step"}, or None (a new thread, or a claim rebuilt from a row)
    parent: dict[str, Any] | None = None

    @property
    def run_id(self) -> uuid.UUID:
        """The claimed run's id."""
        return self.run["run_id"]

    @property
    def thread_id(self) -> uuid.UUID:
        return self.run["thread_id"]

    @property
    def attempt(self) -> int:
        return int(self.run["attempt"])


def row_from_json(data: dict[str, Any]) -> dict[str, Any]:
    """A runs row kept as JSON (``to_jsonb(row)``) back in the types psycopg reads: ids as
    ``uuid.UUID``, timestamps as aware ``datetime``."""
    row = dict(data)
    for name in ("run_id", "thread_id", "assistant_id", "claim_token"):
        if isinstance(row.get(name), str):
            row[name] = uuid.UUID(row[name])
    for name, value in data.items():
        if (name.endswith("_at") or name == "not_before") and isinstance(value, str):
            row[name] = datetime.datetime.fromisoformat(value)
    return row


def get(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID | None = None) -> dict | None:
    """The run's row (of ``thread_id`` when given), or None."""
    return db.fetch_one("get_run", {"run_id": run_id, "thread_id": thread_id})


def get_in(conn: Any, run_id: uuid.UUID) -> dict | None:
    """``get`` inside the caller's transaction on ``conn``."""
    return conn.execute(QUERIES["get_run"], {"run_id": run_id, "thread_id": None}).fetchone()


def list_for_thread(
    db: Database, thread_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> list[dict]:
    """The rows of the thread's runs, newest first, of ``status`` (None: any), paged."""
    return db.fetch(
        "list_runs", {"thread_id": thread_id, "status": status, "limit": limit, "offset": offset}
    )


def delete(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
    """Delete the run unless it is running; False when nothing was deleted (running, or gone)."""
    return db.fetch_one("delete_run", {"run_id": run_id, "thread_id": thread_id}) is not None


def claim(db: Database, run_id: uuid.UUID, version: int, worker_id: str) -> Claim | None:
    """pending → running for one attempt, if ``version`` is still current and the thread is free.

    Returns None when the claim is lost: the message was a duplicate or stale, the run is not
    pending, or an earlier run of its thread is unfinished (it will wake this one when done).
    """
    token = uuid.uuid4()
    params = {"run_id": run_id, "version": version, "claim_token": token, "worker_id": worker_id}

    def work(conn: Any) -> dict | None:
        try:
            return conn.execute(QUERIES["claim_run"], params).fetchone()
        except psycopg.errors.UniqueViolation:
            # another run of the thread was claimed at the same instant: the thread is busy
            return None

    row = db.run(work, "claim_run")
    if row is None:
        row = get(db, run_id)
        if row is None or row["claim_token"] != token or row["status"] != RunStatus.RUNNING:
            return None
    parent_id = row.pop("parent_checkpoint_id", None)
    parent = {
        "checkpoint_id": parent_id,
        "channel_versions": row.pop("parent_channel_versions", None) or {},
        "step": row.pop("parent_step", None),
    }
    return Claim(
        run=row,
        claim_token=token,
        version=int(row["version"]),
        parent=parent if parent_id else None,
    )


def finish(
    db: Database,
    claim: Claim,
    status: RunStatus,
    *,
    output: Any = None,
    error: dict | None = None,
    values: Any = None,
    thread_status: ThreadStatus | None = None,
    interrupts: dict | None = None,
    checkpoint: CheckpointRows | None = None,
    then: Callable[[Any, dict], None] | None = None,
) -> dict | None:
    """running → ``status`` (terminal) for the attempt held by ``claim``, and ``checkpoint``
    (a plain function's new state) written by the same statement, fenced by the claim.

    ``then(conn, row)``: more work in the finish's own transaction, called once the run is
    finished (a canvas: the runs waiting for this one, ``app.canvas.release_in``).

    ``thread_status`` overrides the thread's status after the run (default
    ``THREAD_STATUS_AFTER[status]``): a run that stopped at an interrupt succeeds, and leaves
    its thread ``interrupted``.

    ``values`` (the graph's last state, if any) becomes the thread's ``values``;
    ``interrupts`` (``{task_id: [{"value", "id"}]}``, the pending interrupts of a run that
    stopped at one; default none) its ``interrupts``. Returns the finished row (a
    ``FinishedRun``, which names the thread's next run to wake, when this call committed it), or
    None when the lease was lost (the result must be discarded, and nothing was written).
    """
    assert status.terminal, status
    params = {
        "run_id": claim.run_id,
        "claim_token": claim.claim_token,
        "status": str(status),
        "output": jsonb(output),
        "error": jsonb(error),
        "values": jsonb(values),
        "thread_status": str(thread_status or THREAD_STATUS_AFTER[status]),
        "interrupts": jsonb(interrupts or {}),
        **(checkpoint or NO_CHECKPOINT).params(),
    }
    if then is None:
        row = db.fetch_one("finish_run", params)
    else:

        def work(conn: Any) -> dict | None:
            with conn.transaction():
                finished = conn.execute(QUERIES["finish_run"], params).fetchone()
                if finished is not None:
                    then(conn, finished)
                return finished

        row = db.run(work, "finish_run")
    if row is not None:
        return FinishedRun.of(row)
    current = get(db, claim.run_id)
    if current and current["claim_token"] == claim.claim_token and current["status"] == status:
        return current  # our own finish, committed by an earlier try
    return None


class FinishedRun(dict):
    """The row of a run that ``finish`` ended (equal to the row as ``get`` reads it), and
    ``next_run``: ``{"run_id", "version", "queue"}`` of the thread's oldest due pending run as the
    finishing statement saw it, or None: the run to wake, found without another round trip."""

    next_run: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> FinishedRun:
        """From a ``finish_run`` row (its ``next_run_id``/``next_version``/``next_queue``
        columns moved)."""
        next_id, next_version = row.pop("next_run_id"), row.pop("next_version")
        next_queue = row.pop("next_queue", None)
        finished = cls(row)
        if next_id is not None:
            finished.next_run = {"run_id": next_id, "version": next_version, "queue": next_queue}
        return finished


def requeue(
    db: Database,
    claim: Claim,
    *,
    reason: str,
    max_attempts: int,
    refund_attempt: bool = False,
) -> dict | None:
    """running → pending (or → error once ``max_attempts`` are used), fenced on token and version.

    Parameters:
        reason: why the attempt is handed back (kept in the error when attempts run out).
        refund_attempt: the attempt does not count (graceful shutdown is not the run's fault).

    Returns the row, or None when the lease was already lost.
    """
    attempt = {"run_id": claim.run_id, "claim_token": claim.claim_token, "version": claim.version}
    return _requeue(db, attempt, reason, max_attempts, refund_attempt=refund_attempt)


def requeue_lapsed(db: Database, attempt: dict, *, reason: str, max_attempts: int) -> dict | None:
    """The sweeper's ``requeue`` of an attempt whose heartbeat lapsed (``attempt``: a row of
    ``stale_runs``), unless another transaction holds the run's row: a worker that stalled
    inside a checkpoint write keeps it locked until its session ends, and waiting for it would
    stall every other requeue of the tick (the next tick tries again). Returns the row requeued
    (or ended as error, or deleted by a ``rollback`` cancel), or None."""
    return _requeue(db, attempt, reason, max_attempts, skip_if_held=True)


def _requeue(
    db: Database,
    attempt: dict,
    reason: str,
    max_attempts: int,
    *,
    refund_attempt: bool = False,
    skip_if_held: bool = False,
) -> dict | None:
    params = {
        "run_id": attempt["run_id"],
        "claim_token": attempt["claim_token"],
        "version": attempt["version"],
        "reason": reason,
        "max_attempts": max_attempts,
        "refund_attempt": 1 if refund_attempt else 0,
    }
    tries = []

    def work(conn: Any) -> dict | None:
        tries.append(1)
        with conn.transaction():
            held = skip_if_held and conn.execute(QUERIES["lock_lapsed_run"], params).fetchone()
            if skip_if_held and held is None:
                return None
            # an attempt asked to carry out a rollback cancel: its run is deleted with what it
            # wrote, as the attempt would have done (``interrupted`` would keep the checkpoints
            # the client was promised deleted)
            deleted = rollback_in(conn, params["run_id"], params["claim_token"], params["version"])
            if deleted is not None:
                return deleted
            return conn.execute(QUERIES["requeue_run"], params).fetchone()

    row = db.run(work, "requeue_lapsed_run" if skip_if_held else "requeue_run")
    if row is None and len(tries) > 1:
        # committed on a try whose acknowledgement was lost (or another hand made the same
        # requeue at that instant)? Its follow-ups (a message, the after-end work) are
        # idempotent, so the caller does them rather than skip them.
        current = get(db, params["run_id"])
        version = params["version"]
        if current and current["version"] == version + 1 and current["status"] != RunStatus.RUNNING:
            return current
    return row


def stale_runs(
    db: Database,
    claimed_before: datetime.datetime,
    after: dict | None = None,
    limit: int = 1000,
) -> list[dict]:
    """Running attempts claimed before ``claimed_before`` (the sweeper's candidates), each
    ``{"run_id", "claim_token", "version", "attempt", "worker_id", "claimed_at"}``, ordered by
    ``(claimed_at, run_id)``: at most ``limit``, after the row ``after`` (None: from the first),
    so that live runs claimed long ago cannot hide dead ones claimed later."""
    params = {
        "claimed_before": claimed_before,
        "limit": limit,
        "after_claimed_at": after["claimed_at"] if after else None,
        "after_run_id": after["run_id"] if after else None,
    }
    return db.fetch("find_stale_runs", params)


def mark_pending_resent(db: Database, older_than: datetime.datetime, limit: int) -> list[dict]:
    """Pending runs at the head of their thread untouched (created, handed back or re-sent)
    since ``older_than``, at most ``limit``: stamped as re-sent and returned as ``{"run_id",
    "version", "queue"}``, for their message to be sent again after this call."""
    return db.fetch("mark_pending_runs_resent", {"older_than": older_than, "limit": limit})


def next_pending(db: Database, thread_id: uuid.UUID) -> dict | None:
    """``{"run_id", "version"}`` of the oldest pending run of the thread, if any."""
    return db.fetch_one("next_pending_run", {"thread_id": thread_id})


def leases(db: Database, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """``{run_id: {"status", "claim_token", "cancel_action"}}`` for the runs that still exist."""
    if not run_ids:
        return {}
    return {row["run_id"]: row for row in db.fetch("get_run_leases", {"run_ids": run_ids})}


def rollback(db: Database, claim: Claim) -> dict | None:
    """A cancel with ``action=rollback`` stopped the attempt held by ``claim``: delete the run and
    what it wrote into its thread (its checkpoints, their writes, blobs no other checkpoint refers
    to), fenced on the claim token; the thread goes ``idle``. Returns the deleted row, or None when
    the lease was lost.

    Two statements in one transaction: the DELETE of the run waits for checkpoint writes in
    flight (their fence holds the row ``FOR SHARE``), and the DELETE of the checkpoints, a
    statement of its own, sees every write committed before; writes tried later find no run and
    are refused (``LeaseLost``)."""

    tries = []

    def work(conn: Any) -> dict | None:
        tries.append(1)
        return rollback_in(conn, claim.run_id, claim.claim_token)

    deleted = in_transaction(db, work, "rollback_run")
    if deleted is None and len(tries) > 1 and get(db, claim.run_id) is None:
        # gone: deleted by this rollback on a try whose acknowledgement was lost (or with its
        # thread); the follow-ups (wake the next run, end the stream) must still happen
        return dict(claim.run)
    return deleted


def start_delay(db: Database, run_id: uuid.UUID) -> dict | None:
    """``{"run_id", "version", "wait_seconds"}`` of a pending run not due yet (``after_seconds``),
    else None."""
    return db.fetch_one("run_start_delay", {"run_id": run_id})
