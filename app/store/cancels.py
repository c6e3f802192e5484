"""Cancels of runs (``cancels.sql``): one run, many runs, or a thread's superseded runs.

A pending run ends at once: ``interrupt`` → ``interrupted`` (error ``UserInterrupt``),
``rollback`` → deleted with what an earlier attempt of it wrote. A running run gets
``cancel_action``; the worker holding its claim stops it and records the outcome (``rollback``:
``app.store.runs.rollback``). Nothing is announced here: the caller publishes the cancels and
the ends after COMMIT (``Cancelled``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from app.store import filters
from app.store.db import QUERIES, Database

T = TypeVar("T")

ACTIVE_STATUSES = ("pending", "running")


@dataclass
class Cancelled:
    """The runs a cancel acted on, each ``{"run_id", "thread_id", "status"}`` (status before).

    ``ended``: pending runs ended now (interrupted, or deleted by a rollback): announce their end
    and wake their thread's next run after COMMIT. ``stopping``: running runs whose claim holder
    is asked to stop them (``cancel_action``): publish the cancel after COMMIT.
    """

    action: str
    ended: list[dict] = field(default_factory=list)
    stopping: list[dict] = field(default_factory=list)

    @property
    def runs(self) -> list[dict]:
        return self.ended + self.stopping


def cancel_in(
    conn: Any,
    *,
    action: str,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
    statuses: tuple[str, ...] = ACTIVE_STATUSES,
    reason: str = "cancelled before it started",
    thread_filter: dict | None = None,
) -> Cancelled:
    """Cancel the unfinished runs selected by ``thread_id``, ``run_ids``, ``statuses`` and
    ``thread_filter`` (an auth filter their thread must pass: ``app.store.filters``) (None = no
    filter), inside the caller's transaction on ``conn``.

    Pending runs end now: ``action="interrupt"`` → ``interrupted`` (error ``UserInterrupt`` with
    ``reason``); ``action="rollback"`` → deleted with the checkpoints an earlier attempt wrote.
    Running runs get ``cancel_action = action``; their worker stops them and records the outcome
    (``interrupted``, or deleted with what they wrote). Pending runs go first, so a run claimed
    meanwhile is caught as running.
    """
    selection = {
        "thread_id": thread_id,
        "run_ids": run_ids,
        "statuses": list(statuses),
        "thread_filter": None if thread_filter is None else filters.param(thread_filter),
    }
    # lock them first: a run moving running -> pending between the two statements below would
    # escape both (READ COMMITTED: each statement sees what was committed when it started)
    locked = [row["run_id"] for row in conn.execute(QUERIES["lock_active_runs"], selection)]
    if not locked:
        return Cancelled(action)
    return _cancel_locked(conn, action, locked, reason)


def _cancel_locked(conn: Any, action: str, run_ids: list[uuid.UUID], reason: str) -> Cancelled:
    """Cancel the unfinished runs among ``run_ids`` (pending ones first); see ``cancel_in``."""
    params = {"action": action, "run_ids": run_ids, "reason": reason}
    ended = conn.execute(QUERIES["end_pending_runs"], params).fetchall()
    if action == "rollback" and ended:
        delete_checkpoints_in(conn, ended)
    stopping = conn.execute(QUERIES["request_cancel_runs"], params).fetchall()
    return Cancelled(action, ended=ended, stopping=stopping)


def cancel(db: Database, *, action: str, **selection: Any) -> Cancelled:
    """``cancel_in`` in a transaction of its own (single and bulk cancel); ``selection``: the
    keyword arguments of ``cancel_in`` that select the runs.

    A retry that finds nothing left to cancel after a first try that cancelled something
    answers that first try: its COMMIT went through and only the acknowledgement was lost (its
    follow-ups, announcing the ends and the cancels, are idempotent)."""
    tries: list[Cancelled] = []

    def work(conn: Any) -> Cancelled:
        tries.append(cancel_in(conn, action=action, **selection))
        return tries[-1]

    result = in_transaction(db, work, "cancel_runs")
    if not result.runs and len(tries) > 1 and tries[0].runs:
        return tries[0]
    return result


def in_transaction(db: Database, work: Callable[[Any], T], what: str) -> T:
    """``work(conn)`` in one transaction (retried whole on retryable errors: ``Database.run``)."""

    def unit(conn: Any) -> T:
        with conn.transaction():
            return work(conn)

    return db.run(unit, what)


def cancel_pending(db: Database, run_id: uuid.UUID, thread_id: uuid.UUID) -> dict | None:
    """pending → interrupted, for the run ``run_id`` of ``thread_id``: its
    ``{"run_id", "thread_id", "status"}``, or None if it is not pending (any more)."""
    cancelled = cancel(
        db, action="interrupt", thread_id=thread_id, run_ids=[run_id], statuses=("pending",)
    )
    return cancelled.ended[0] if cancelled.ended else None


def request_cancel(
    db: Database, run_id: uuid.UUID, thread_id: uuid.UUID, action: str
) -> dict | None:
    """Record a cancel (``action``: ``interrupt`` or ``rollback``) of the running run ``run_id``
    of ``thread_id``, for its claim holder: its ``{"run_id", "thread_id", "status"}``, or None
    if it is not running."""
    cancelled = cancel(
        db, action=action, thread_id=thread_id, run_ids=[run_id], statuses=("running",)
    )
    return cancelled.stopping[0] if cancelled.stopping else None


def delete_checkpoints_in(conn: Any, runs: list[dict]) -> None:
    """Delete what the deleted ``runs`` (rows with ``run_id`` and ``thread_id``) wrote into their
    threads, inside the caller's transaction: a statement after their DELETE, so that it sees
    every checkpoint write committed before the runs' rows were locked."""
    conn.execute(
        QUERIES["delete_runs_checkpoints"],
        {
            "thread_ids": sorted({str(r["thread_id"]) for r in runs}),
            "run_ids": [str(r["run_id"]) for r in runs],
        },
    )


def rollback_in(
    conn: Any, run_id: uuid.UUID, claim_token: uuid.UUID, lapsed_version: int | None = None
) -> dict | None:
    """Inside the caller's transaction: delete the running run ``run_id`` held by
    ``claim_token``, and what it wrote (``delete_checkpoints_in``), for a ``rollback`` cancel;
    its thread goes ``idle``. Returns the deleted row, or None.

    ``lapsed_version`` None: the attempt carries out the cancel itself (None = its lease was
    lost). Else the attempt at that version is gone (its worker died or handed it back): the
    run is deleted, as the attempt would have done, only if it was asked a ``rollback``
    (None = no such cancel); the row comes back with status ``interrupted`` (the run ended
    by a cancel)."""
    params = {"run_id": run_id, "claim_token": claim_token, "lapsed_version": lapsed_version}
    deleted = conn.execute(QUERIES["rollback_run"], params).fetchone()
    if deleted is None:
        return None
    delete_checkpoints_in(conn, [deleted])
    return deleted if lapsed_version is None else {**deleted, "status": "interrupted"}
