"""Creating runs (``run_creation.sql``): the one way a run is made, by the API, the cron
scheduler and canvases alike.

Creation is one INSERT, or one short transaction when it needs more: the thread's row lock for
a multitask strategy (double texting), thread creation, a delayed start, an Idempotency-Key.
Nothing of it is announced before COMMIT: the caller publishes the cancels of superseded runs
and sends the run's message from the returned ``Created``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from app.errors import Conflict, InvalidInput, NotFound
from app.store import run_batches
from app.store.cancels import Cancelled, cancel_in, in_transaction
from app.store.db import QUERIES, Database, jsonb
from app.store.runs import get, row_from_json

T = TypeVar("T")


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
    try:
        return in_transaction(db, work, what)
    except _KeyTaken:
        return in_transaction(db, work, what)  # the other request committed: its key is found


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


def purge_idempotency_keys(db: Database, older_than: datetime.datetime) -> int:
    """Forget the Idempotency-Keys created before ``older_than``; returns how many."""

    def work(conn: Any) -> int:
        return conn.execute(QUERIES["purge_idempotency_keys"], {"older_than": older_than}).rowcount

    return db.run(work, "purge_idempotency_keys")
