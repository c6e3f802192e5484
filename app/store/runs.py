"""Runs: creation and every transition of the state machine (``app/runs.py``), as typed outcomes.

Each transition is one conditional UPDATE (``queries.sql``). "No row back" is never a silent
success: ``claim`` returns None, ``finish`` and ``requeue`` return None, and the caller drops
its work. Because a retried statement may follow a COMMIT whose acknowledgement was lost, the
claim and the finish check, on "no row", whether the row already carries their own token.

Creation (``create``) is one INSERT, or one short transaction when it needs more: the thread's
row lock for a multitask strategy (double texting), thread creation, a delayed start, an
Idempotency-Key (``runs_extras.sql``). Nothing of it is announced before COMMIT: the caller
publishes cancels and sends messages from the returned ``Created``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg.errors

from app.errors import Conflict, InvalidInput, NotFound
from app.runs import THREAD_STATUS_AFTER, RunStatus, ThreadStatus
from app.store import filters, run_batches
from app.store.checkpoints import NO_CHECKPOINT, CheckpointRows
from app.store.db import QUERIES, Database, jsonb

T = TypeVar("T")


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
        return self.run["run_id"]

    @property
    def thread_id(self) -> uuid.UUID:
        return self.run["thread_id"]

    @property
    def attempt(self) -> int:
        return int(self.run["attempt"])


@dataclass(frozen=True)
class NewRun:
    """A run to insert: the keyword arguments of ``insert`` (``app.run_requests.build_run`` makes
    them from a run-create request).

    Parameters:
        thread_metadata: merged into the thread's metadata (graph_id, assistant_id).
        new_thread_metadata: also the metadata of a thread the run creates (temporary, or
            ``if_not_exists="create"``): the auth handler's stamp (``metadata.owner``), so the
            creator sees the run's thread.
        multitask_strategy: what to do when the thread has a pending or running run (double
            texting; decided under a lock on the thread's row, so two creations never both
            pass): ``enqueue`` (default) queue behind it; ``reject`` refuse (Conflict);
            ``interrupt`` stop the running run (it ends ``interrupted``) and interrupt the
            pending ones; ``rollback`` the same, but those runs are deleted with what they
            wrote. The new run starts once the runs before it are finished.
        create_thread: ``if_not_exists="create"``: create the thread if it does not exist, in
            the run's transaction (a refused run leaves no thread behind); ``thread_ttl``
            (``{"ttl_minutes", "ttl_strategy"}``) is the TTL such a thread gets (and a
            temporary run's thread, too).
        after_seconds: the run is not claimed before this many seconds from now (database
            clock); while it waits it holds up none of its thread's runs.
        reject_if_busy: the older spelling of ``multitask_strategy="reject"`` (``build_run``
            gives both, for callers that insert with their own SQL).
    """

    run_id: uuid.UUID
    thread_id: uuid.UUID
    assistant_id: uuid.UUID
    graph_id: str
    metadata: dict
    kwargs: dict
    multitask_strategy: str = "enqueue"
    temporary: bool = False
    on_completion: str = "keep"
    thread_metadata: dict | None = None
    new_thread_metadata: dict | None = None
    create_thread: bool = False
    thread_ttl: dict | None = None
    after_seconds: float = 0.0
    reject_if_busy: bool = False

    @property
    def strategy(self) -> str:
        """The multitask strategy in effect."""
        return "reject" if self.reject_if_busy else self.multitask_strategy

    @property
    def one_statement(self) -> bool:
        """True when a single INSERT does it all (no lock, thread creation or delay)."""
        return self.strategy == "enqueue" and not self.create_thread and self.after_seconds <= 0

    def params(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "thread_id": self.thread_id,
            "assistant_id": self.assistant_id,
            "graph_id": self.graph_id,
            "metadata": jsonb(self.metadata),
            "kwargs": jsonb(self.kwargs),
            "multitask_strategy": self.multitask_strategy,
            "temporary": self.temporary,
            "on_completion": self.on_completion,
            "thread_metadata": jsonb(self.thread_metadata or {}),
            "new_thread_metadata": jsonb(self.new_thread_metadata or {}),
            # the TTL of the thread the run creates (temporary or if_not_exists="create")
            "ttl_minutes": (self.thread_ttl or {}).get("ttl_minutes"),
            "ttl_strategy": (self.thread_ttl or {}).get("ttl_strategy"),
        }


@dataclass(frozen=True)
class IdempotencyKey:
    """An ``Idempotency-Key`` header and the fingerprint of the request that carried it.

    The first request with a key creates a run and binds the key to it (in the run's
    transaction); a later request with the same key and the same fingerprint gets that run back
    and creates nothing; one with another fingerprint is refused (InvalidInput: 422, as the IETF
    draft "The Idempotency-Key HTTP Header Field" advises for a key reused with another payload).
    """

    key: str
    fingerprint: str

    @classmethod
    def of(cls, key: str, request: Any) -> IdempotencyKey:
        """``request``: JSON naming what was asked (target and body); its sha256 is kept."""
        text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        return cls(key, hashlib.sha256(text.encode()).hexdigest())


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


@dataclass
class Created:
    """A run creation's outcome: the run, and what the caller does after COMMIT.

    ``replayed``: an Idempotency-Key retry; ``row`` is the first request's run (or, once that run
    is deleted, the run as it was created) and nothing was written. ``superseded``: what
    ``multitask_strategy`` interrupt/rollback did to the thread's earlier runs.
    """

    row: dict
    replayed: bool = False
    superseded: Cancelled | None = None


class _KeyTaken(Exception):
    """A concurrent request with the same Idempotency-Key committed first: roll back, replay."""


def insert(db: Database, **fields: Any) -> dict:
    """Insert a pending run (creating its temporary thread when ``temporary``) and return its row.

    ``fields``: those of ``NewRun``. Idempotent on ``run_id``: a retried insert returns the row
    stored by the first one. A caller that uses ``multitask_strategy`` interrupt/rollback should
    call ``create`` instead and announce ``Created.superseded`` after COMMIT (without it, workers
    notice the cancels at their next lease check).

    Raises:
        NotFound: the thread does not exist.
        Conflict: multitask strategy ``reject`` and the thread has a pending or running run.
    """
    return create(db, fields).row


def create(
    db: Database, fields: dict[str, Any], idempotency: IdempotencyKey | None = None
) -> Created:
    """Insert the run ``fields`` describe (``NewRun``'s), with its multitask strategy, thread
    creation, delayed start and Idempotency-Key, in one transaction.

    Raises:
        NotFound, Conflict: as ``insert``. InvalidInput: ``idempotency`` reused with another
        request.
    """
    new = NewRun(**fields)
    if idempotency is None and new.one_statement:
        row = db.fetch_one(
            "insert_run_with_thread" if new.temporary else "insert_run", new.params()
        )
        if row is None:
            row = get(db, new.run_id)  # a retried insert whose first try committed
            if row is None:
                raise NotFound(f"Thread with ID {new.thread_id} not found")
        return Created(row)
    return _transaction(db, lambda conn: create_in(conn, new, idempotency), "create_run")


def create_many(
    db: Database, batch: list[tuple[dict[str, Any], IdempotencyKey | None]]
) -> list[Created]:
    """``create`` for several runs in ONE transaction: all are created, or none (the first error
    is raised and nothing is written). Plain enqueues on existing threads without keys go in
    one statement (``app.store.run_batches``)."""
    news = [(NewRun(**fields), key) for fields, key in batch]
    if all(key is None for _, key in news) and run_batches.fits([new for new, _ in news]):
        return [Created(row) for row in run_batches.insert(db, [new for new, _ in news])]
    return _transaction(
        db, lambda conn: [create_in(conn, new, key) for new, key in news], "create_runs"
    )


def _transaction(db: Database, work: Callable[[Any], T], what: str) -> T:
    def unit(conn: Any) -> T:
        with conn.transaction():
            return work(conn)

    try:
        return db.run(unit, what)
    except _KeyTaken:
        return db.run(unit, what)  # the other request committed: its key is found this time


def create_in(conn: Any, new: NewRun, idempotency: IdempotencyKey | None = None) -> Created:
    """``create`` inside the caller's transaction on ``conn`` (the caller commits, then does the
    after-COMMIT work of ``Created``)."""
    if idempotency is not None:
        replay = _replay(conn, idempotency)
        if replay is not None:
            return replay
    existing = conn.execute(QUERIES["get_run"], {"run_id": new.run_id, "thread_id": None})
    row = existing.fetchone()
    if row is not None:  # a retried unit of work whose first try committed
        return Created(row)
    params = new.params()
    superseded = None
    if new.temporary:
        row = conn.execute(QUERIES["insert_run_with_thread"], params).fetchone()
    else:
        if new.create_thread:
            ttl = new.thread_ttl or {"ttl_minutes": None, "ttl_strategy": None}
            conn.execute(
                QUERIES["create_thread"],
                {
                    "thread_id": new.thread_id,
                    "metadata": jsonb(new.new_thread_metadata or {}),
                    **ttl,
                },
            )
        if new.strategy != "enqueue":
            if conn.execute(QUERIES["lock_thread"], params).fetchone() is None:
                raise NotFound(f"Thread with ID {new.thread_id} not found")
            superseded = _apply_strategy(conn, new)
        row = conn.execute(QUERIES["insert_run"], params).fetchone()
        if row is None:
            raise NotFound(f"Thread with ID {new.thread_id} not found")
    if new.after_seconds > 0:
        row = conn.execute(
            QUERIES["delay_run_start"],
            {"run_id": new.run_id, "after_seconds": float(new.after_seconds)},
        ).fetchone()
    if idempotency is not None:
        bound = conn.execute(
            QUERIES["insert_idempotency_key"],
            {
                "idempotency_key": idempotency.key,
                "fingerprint": idempotency.fingerprint,
                "run_id": new.run_id,
            },
        ).fetchone()
        if bound is None:
            raise _KeyTaken(idempotency.key)
    return Created(row, superseded=superseded)


def _apply_strategy(conn: Any, new: NewRun) -> Cancelled | None:
    """Double texting, under the thread's row lock: refuse, or supersede the unfinished runs."""
    if new.strategy == "reject":
        active = conn.execute(QUERIES["thread_active_run"], {"thread_id": new.thread_id}).fetchone()
        if active is not None:
            raise Conflict(
                f"Thread {new.thread_id} is busy with run {active['run_id']} "
                f"({active['status']}); multitask_strategy is reject"
            )
        return None
    return cancel_in(
        conn,
        action=new.strategy,
        thread_id=new.thread_id,
        reason=f"superseded by run {new.run_id} (multitask_strategy={new.strategy})",
    )


def _replay(conn: Any, idempotency: IdempotencyKey) -> Created | None:
    bound = conn.execute(
        QUERIES["get_idempotency_key"], {"idempotency_key": idempotency.key}
    ).fetchone()
    if bound is None:
        return None
    if bound["fingerprint"] != idempotency.fingerprint:
        raise InvalidInput(
            f"Idempotency-Key {idempotency.key!r} was already used with a different request "
            f"(it created run {bound['run_id']}); use a new key for a new request"
        )
    row = conn.execute(QUERIES["get_run"], {"run_id": bound["run_id"], "thread_id": None})
    return Created(row.fetchone() or row_from_json(bound["run"]), replayed=True)


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
    params = {
        "run_id": run_id,
        "claim_token": claim_token,
        "version": version,
        "reason": reason,
        "max_attempts": max_attempts,
        "refund_attempt": 1 if refund_attempt else 0,
    }
    tries = []

    def work(conn: Any) -> dict | None:
        tries.append(1)
        with conn.transaction():
            return requeue_in(conn, params)

    row = db.run(work, "requeue_run")
    if row is None and len(tries) > 1:
        return requeued_already(db, run_id, version)
    return row


def requeue_in(conn: Any, params: dict[str, Any]) -> dict | None:
    """``requeue_run`` inside the caller's transaction, except for an attempt asked to carry out
    a ``rollback`` cancel: that run is deleted with what it wrote, as its attempt would have
    done (returned with status ``interrupted``; an ``interrupted`` run would keep the
    checkpoints the client was promised deleted)."""
    deleted = conn.execute(QUERIES["rollback_lapsed_run"], params).fetchone()
    if deleted is not None:
        _delete_checkpoints(conn, [deleted])
        return {**deleted, "status": RunStatus.INTERRUPTED}
    return conn.execute(QUERIES["requeue_run"], params).fetchone()


def requeued_already(db: Database, run_id: uuid.UUID, version: int) -> dict | None:
    """After a requeue that found no row on a retry: the run's row if the requeue of its attempt
    at ``version`` is committed (the run is at ``version + 1`` and not running), that is, the
    first try committed and lost its acknowledgement (or another hand made the same requeue at
    that instant). Its follow-ups (a message, the after-end work) are idempotent, so the caller
    does them rather than skip them."""
    current = get(db, run_id)
    if current and current["version"] == version + 1 and current["status"] != RunStatus.RUNNING:
        return current
    return None


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


# --- cancels of one or many runs, rollback, delayed starts ------------------------------------

ACTIVE_STATUSES = ("pending", "running")


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
    params = {
        "action": action,
        "thread_id": thread_id,
        "run_ids": run_ids,
        "statuses": list(statuses),
        "reason": reason,
        "thread_filter": None if thread_filter is None else filters.param(thread_filter),
    }
    # lock them first: a run moving running -> pending between the two statements below would
    # escape both (READ COMMITTED: each statement sees what was committed when it started)
    conn.execute(QUERIES["lock_active_runs"], params)
    pending = "rollback_pending_runs" if action == "rollback" else "interrupt_pending_runs"
    ended = conn.execute(QUERIES[pending], params).fetchall()
    if action == "rollback" and ended:
        _delete_checkpoints(conn, ended)
    return Cancelled(
        action,
        ended=ended,
        stopping=conn.execute(QUERIES["request_cancel_runs"], params).fetchall(),
    )


def _delete_checkpoints(conn: Any, runs: list[dict]) -> None:
    """What the deleted ``runs`` wrote into their threads (a statement after their DELETE)."""
    conn.execute(
        QUERIES["delete_runs_checkpoints"],
        {
            "thread_ids": sorted({str(r["thread_id"]) for r in runs}),
            "run_ids": [str(r["run_id"]) for r in runs],
        },
    )


def cancel(
    db: Database,
    *,
    action: str,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
    statuses: tuple[str, ...] = ACTIVE_STATUSES,
    thread_filter: dict | None = None,
) -> Cancelled:
    """``cancel_in`` in a transaction of its own (single and bulk cancel).

    A retry that finds nothing left to cancel after a first try that cancelled something
    answers that first try: its COMMIT went through and only the acknowledgement was lost (its
    follow-ups, announcing the ends and the cancels, are idempotent)."""
    tries: list[Cancelled] = []

    def work(conn: Any) -> Cancelled:
        tries.append(
            cancel_in(
                conn,
                action=action,
                thread_id=thread_id,
                run_ids=run_ids,
                statuses=statuses,
                thread_filter=thread_filter,
            )
        )
        return tries[-1]

    result = _transaction(db, work, "cancel_runs")
    if not result.runs and len(tries) > 1 and tries[0].runs:
        return tries[0]
    return result


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
        row = conn.execute(
            QUERIES["rollback_run"], {"run_id": claim.run_id, "claim_token": claim.claim_token}
        ).fetchone()
        if row is not None:
            _delete_checkpoints(conn, [row])
        return row

    deleted = _transaction(db, work, "rollback_run")
    if deleted is None and len(tries) > 1 and get(db, claim.run_id) is None:
        # gone: deleted by this rollback on a try whose acknowledgement was lost (or with its
        # thread); the follow-ups (wake the next run, end the stream) must still happen
        return dict(claim.run)
    return deleted


def start_delay(db: Database, run_id: uuid.UUID) -> dict | None:
    """``{"run_id", "version", "wait_seconds"}`` of a pending run not due yet (``after_seconds``),
    else None."""
    return db.fetch_one("run_start_delay", {"run_id": run_id})


def purge_idempotency_keys(db: Database, older_than: datetime.datetime) -> int:
    """Forget the Idempotency-Keys created before ``older_than``; returns how many."""

    def work(conn: Any) -> int:
        return conn.execute(QUERIES["purge_idempotency_keys"], {"older_than": older_than}).rowcount

    return db.run(work, "purge_idempotency_keys")
