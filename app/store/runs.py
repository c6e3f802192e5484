"""Runs: creation and every transition of the state machine (``app/runs.py``), as typed outcomes.

Each transition is one conditional UPDATE (``queries.sql``). "No row back" is never a silent
success: ``claim`` returns None, ``finish`` and ``requeue`` return None, and the caller drops
its work. Because a retried statement may follow a COMMIT whose acknowledgement was lost, the
claim and the finish check, on "no row", whether the row already carries their own token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg.errors

from app.errors import Conflict, NotFound
from app.runs import THREAD_STATUS_AFTER, RunStatus, ThreadStatus
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

    @property
    def run_id(self) -> uuid.UUID:
        return self.run["run_id"]

    @property
    def thread_id(self) -> uuid.UUID:
        return self.run["thread_id"]

    @property
    def attempt(self) -> int:
        return int(self.run["attempt"])


def insert(
    db: Database,
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    assistant_id: uuid.UUID,
    graph_id: str,
    metadata: dict,
    kwargs: dict,
    multitask_strategy: str = "enqueue",
    temporary: bool = False,
    on_completion: str = "keep",
    thread_metadata: dict | None = None,
    reject_if_busy: bool = False,
    create_thread: bool = False,
) -> dict:
    """Insert a pending run (creating its temporary thread when ``temporary``).

    Idempotent on ``run_id``: a retried insert returns the row stored by the first one.

    Parameters:
        thread_metadata: merged into the thread's metadata (graph_id, assistant_id).
        reject_if_busy: multitask strategy "reject": refuse when the thread has a pending or
            running run (checked under a lock on the thread's row, so two creations cannot
            both pass).
        create_thread: ``if_not_exists="create"``: create the thread if it does not exist, in
            the run's transaction (a refused run leaves no thread behind).

    Raises:
        NotFound: the thread does not exist.
        Conflict: ``reject_if_busy`` and the thread is busy.
    """
    params = {
        "run_id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "graph_id": graph_id,
        "metadata": jsonb(metadata),
        "kwargs": jsonb(kwargs),
        "multitask_strategy": multitask_strategy,
        "temporary": temporary,
        "on_completion": on_completion,
        "thread_metadata": jsonb(thread_metadata or {}),
    }
    if reject_if_busy or create_thread:
        row = db.run(
            lambda conn: _insert_unless_busy(conn, params, reject_if_busy, create_thread),
            "insert_run",
        )
    else:
        row = db.fetch_one("insert_run_with_thread" if temporary else "insert_run", params)
    if row is None:
        row = get(db, run_id)  # a retried insert whose first try committed
        if row is None:
            raise NotFound(f"Thread with ID {thread_id} not found")
    return row


def _insert_unless_busy(
    conn: Any, params: dict, reject_if_busy: bool = True, create_thread: bool = False
) -> dict | None:
    with conn.transaction():
        if create_thread:
            conn.execute(
                QUERIES["insert_thread"], {"thread_id": params["thread_id"], "metadata": jsonb({})}
            )
        if reject_if_busy:
            if conn.execute(QUERIES["lock_thread"], params).fetchone() is None:
                return None
            active = conn.execute(QUERIES["thread_active_run"], params).fetchone()
            if active is not None:
                raise Conflict(
                    f"Thread {params['thread_id']} is busy with run {active['run_id']} "
                    f"({active['status']}); multitask_strategy is reject"
                )
        return conn.execute(QUERIES["insert_run"], params).fetchone()


def get(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID | None = None) -> dict | None:
    return db.fetch_one("get_run", {"run_id": run_id, "thread_id": thread_id})


def list_for_thread(
    db: Database, thread_id: uuid.UUID, *, status: str | None, limit: int, offset: int
) -> list[dict]:
    return db.fetch(
        "list_runs", {"thread_id": thread_id, "status": status, "limit": limit, "offset": offset}
    )


def delete(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID) -> bool:
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
    return Claim(run=row, claim_token=token, version=int(row["version"]))


def finish(
    db: Database,
    claim: Claim,
    status: RunStatus,
    *,
    output: Any = None,
    error: dict | None = None,
    values: Any = None,
    thread_status: ThreadStatus | None = None,
) -> dict | None:
    """running → ``status`` (terminal) for the attempt held by ``claim``.

    ``thread_status`` overrides the thread's status after the run (default
    ``THREAD_STATUS_AFTER[status]``): a run that stopped at an interrupt succeeds, and leaves
    its thread ``interrupted``.

    ``values`` (the graph's last state, if any) becomes the thread's ``values``. Returns the
    finished row, or None when the lease was lost (the result must be discarded).
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
    }
    row = db.fetch_one("finish_run", params)
    if row is None:
        current = get(db, claim.run_id)
        if current and current["claim_token"] == claim.claim_token and current["status"] == status:
            return current  # our own finish, committed by an earlier try
    return row


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
    return requeue_by_token(
        db,
        run_id=claim.run_id,
        claim_token=claim.claim_token,
        version=claim.version,
        reason=reason,
        max_attempts=max_attempts,
        refund_attempt=refund_attempt,
    )


def requeue_by_token(
    db: Database,
    *,
    run_id: uuid.UUID,
    claim_token: uuid.UUID,
    version: int,
    reason: str,
    max_attempts: int,
    refund_attempt: bool = False,
) -> dict | None:
    """``requeue`` for callers that hold only the ids (the sweeper)."""
    return db.fetch_one(
        "requeue_run",
        {
            "run_id": run_id,
            "claim_token": claim_token,
            "version": version,
            "reason": reason,
            "max_attempts": max_attempts,
            "refund_attempt": 1 if refund_attempt else 0,
        },
    )


def next_pending(db: Database, thread_id: uuid.UUID) -> dict | None:
    """``{"run_id", "version"}`` of the oldest pending run of the thread, if any."""
    return db.fetch_one("next_pending_run", {"thread_id": thread_id})


def cancel_pending(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID) -> dict | None:
    """pending → interrupted; None if the run is not pending (any more)."""
    return db.fetch_one("cancel_pending_run", {"run_id": run_id, "thread_id": thread_id})


def request_cancel(
    db: Database, run_id: uuid.UUID, thread_id: uuid.UUID, action: str
) -> dict | None:
    """Record a cancel of a running run; None if the run is not running."""
    return db.fetch_one(
        "request_cancel", {"run_id": run_id, "thread_id": thread_id, "action": action}
    )


def leases(db: Database, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """``{run_id: {"status", "claim_token", "cancel_action"}}`` for the runs that still exist."""
    if not run_ids:
        return {}
    return {row["run_id"]: row for row in db.fetch("get_run_leases", {"run_ids": run_ids})}
