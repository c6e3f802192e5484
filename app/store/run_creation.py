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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from app.errors import Conflict, InvalidInput, NotFound
from app.store import run_batches
from app.store.cancels import Cancelled, cancel_in, in_transaction
from app.store.db import QUERIES, Database, jsonb
from app.store.runs import get, get_in, row_from_json

T = TypeVar("T")


@dataclass(frozen=True)
class NewRun:
    """A run to create: what ``app.run_requests.build_run`` makes of a run-create request (the
    API's, a cron's, a canvas step's), defaulted and validated there, and what ``create`` and
    ``create_in`` insert. ``kwargs`` is the run's ``kwargs`` column as the worker reads it.

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

    @property
    def one_statement(self) -> bool:
        """True when a single INSERT does it all (no lock, thread creation or delay)."""
        return (
            self.multitask_strategy == "enqueue"
            and not self.create_thread
            and self.after_seconds <= 0
        )

    def params(self) -> dict[str, Any]:
        """The parameters of ``insert_run`` and ``insert_run_with_thread``."""
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


def create(
    db: Database, runs: Sequence[tuple[NewRun, IdempotencyKey | None]]
) -> list[Created]:
    """Create ``runs`` (each with its Idempotency-Key, or None), all or none, in their order:
    multitask strategy, thread creation, delayed start and key in ONE transaction (the first
    error is raised and nothing is written). One plain enqueue, or several plain enqueues on
    existing threads, without keys, is one statement (``app.store.run_batches``). Idempotent
    on ``run_id``: a unit retried after its COMMIT answers the rows the first try stored.

    A caller that announces nothing after COMMIT loses nothing: workers notice the cancels of
    superseded runs (``Created.superseded``) at their next lease check.

    Raises:
        NotFound: a thread does not exist. Conflict: multitask strategy ``reject`` and the
        thread has a pending or running run. InvalidInput: an Idempotency-Key reused with
        another request, or a value Postgres refused.
    """
    news = [new for new, _ in runs]
    if all(key is None for _, key in runs):
        if len(news) == 1 and news[0].one_statement:
            return [Created(_insert_one(db, news[0]))]
        if run_batches.fits(news):
            return [Created(row) for row in run_batches.insert(db, news)]
    what = "create_run" if len(runs) == 1 else "create_runs"
    return _transaction(db, lambda conn: [create_in(conn, new, key) for new, key in runs], what)


def _insert_one(db: Database, new: NewRun) -> dict:
    row = db.fetch_one("insert_run_with_thread" if new.temporary else "insert_run", new.params())
    if row is None:
        row = get(db, new.run_id)  # a retried insert whose first try committed
        if row is None:
            raise NotFound(f"Thread with ID {new.thread_id} not found")
    return row


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
    row = get_in(conn, new.run_id)
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
        if new.multitask_strategy != "enqueue":
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
    if new.multitask_strategy == "reject":
        active = conn.execute(QUERIES["thread_active_run"], {"thread_id": new.thread_id}).fetchone()
        if active is not None:
            raise Conflict(
                f"Thread {new.thread_id} is busy with run {active['run_id']} "
                f"({active['status']}); multitask_strategy is reject"
            )
        return None
    return cancel_in(
        conn,
        action=new.multitask_strategy,
        thread_id=new.thread_id,
        reason=f"superseded by run {new.run_id} (multitask_strategy={new.multitask_strategy})",
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
    row = get_in(conn, bound["run_id"])
    return Created(row or row_from_json(bound["run"]), replayed=True)


def purge_idempotency_keys(db: Database, older_than: datetime.datetime) -> int:
    """Forget the Idempotency-Keys created before ``older_than``; returns how many."""

    def work(conn: Any) -> int:
        return conn.execute(QUERIES["purge_idempotency_keys"], {"older_than": older_than}).rowcount

    return db.run(work, "purge_idempotency_keys")
