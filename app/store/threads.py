"""Threads: create, read, patch, delete, search, count, copy, prune; state updates under the
thread's lock; the sweeper's expiry of threads by TTL (queries in ``queries.sql`` and
``threads.sql``).

A thread's checkpoints (LangGraph's tables) always go with it: deleting, pruning or expiring a
thread deletes them in the same statement, and a copy copies them.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.errors import Conflict, NotFound
from app.store import filters
from app.store.db import QUERIES, Database, jsonb

SORT_COLUMNS = ("thread_id", "status", "created_at", "updated_at", "state_updated_at")
TTL_STRATEGIES = ("delete", "keep_latest")
PRUNE_STRATEGIES = ("delete", "keep_latest")


@dataclass(frozen=True)
class Ttl:
    """A thread's time-to-live: ``minutes`` (> 0) from when it is set, then ``strategy``
    (``delete``: the thread, its runs and checkpoints go; ``keep_latest``: only its latest
    checkpoint is kept, and the TTL starts again)."""

    minutes: float
    strategy: str = "delete"

    def params(self) -> dict[str, Any]:
        return {"ttl_minutes": self.minutes, "ttl_strategy": self.strategy}


_NO_TTL = {"ttl_minutes": None, "ttl_strategy": None}


def insert(
    db: Database, thread_id: uuid.UUID, metadata: dict | None = None, *, ttl: Ttl | None = None
) -> dict | None:
    """Insert a thread (idle, with ``metadata`` and an optional ``ttl``); None when the id exists
    already."""
    params = {"thread_id": thread_id, "metadata": jsonb(metadata or {})}
    return db.fetch_one("create_thread", params | (ttl.params() if ttl else _NO_TTL))


def get(db: Database, thread_id: uuid.UUID, auth_filter: dict | None = None) -> dict | None:
    """The thread, or None (absent, or excluded by ``auth_filter``: ``app.store.filters``)."""
    params = {"thread_id": thread_id, "auth_filter": filters.param(auth_filter)}
    return db.fetch_one("get_thread", params)


def visible_ids(
    db: Database, thread_ids: list[uuid.UUID], auth_filter: dict | None
) -> list[uuid.UUID]:
    """Those of ``thread_ids`` that exist and pass ``auth_filter`` (all of them when None)."""
    if auth_filter is None:
        return thread_ids
    rows = db.fetch(
        "visible_threads", {"thread_ids": thread_ids, "auth_filter": filters.param(auth_filter)}
    )
    return [row["thread_id"] for row in rows]


def update(
    db: Database, thread_id: uuid.UUID, metadata: dict, *, ttl: Ttl | None = None
) -> dict | None:
    """Merge ``metadata`` into the thread's metadata and, if given, set its ``ttl`` from now; None
    when the thread does not exist."""
    params = {"thread_id": thread_id, "metadata": jsonb(metadata)}
    return db.fetch_one("patch_thread", params | (ttl.params() if ttl else _NO_TTL))


def delete(db: Database, thread_id: uuid.UUID) -> bool:
    """Delete the thread, its runs and its checkpoints; False if it did not exist."""
    return db.fetch_one("delete_thread", {"thread_id": thread_id}) is not None


def _filters(
    status: str | None,
    metadata: dict | None,
    values: dict | None,
    ids: list[uuid.UUID] | None,
    auth_filter: dict | None = None,
) -> dict:
    return {
        "status": status,
        "metadata": jsonb(metadata or {}),
        "values": jsonb(values) if values else None,
        "ids": ids,
        "auth_filter": filters.param(auth_filter),
    }


def search(
    db: Database,
    *,
    status: str | None = None,
    metadata: dict | None = None,
    values: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    auth_filter: dict | None = None,
) -> list[dict]:
    """Threads whose metadata and values contain ``metadata`` and ``values`` (JSONB ``@>``),
    optionally of one ``status`` and among ``ids``, that pass ``auth_filter``
    (``app.store.filters``), sorted by ``sort_by`` (one of ``SORT_COLUMNS``)."""
    if sort_by not in SORT_COLUMNS:
        raise ValueError(f"cannot sort threads by {sort_by!r}")
    order_by = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}, thread_id"
    params = _filters(status, metadata, values, ids, auth_filter)
    params |= {"limit": limit, "offset": offset}
    return db.fetch("search_threads", params, order_by=order_by)


def count(
    db: Database,
    *,
    status: str | None = None,
    metadata: dict | None = None,
    values: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    auth_filter: dict | None = None,
) -> int:
    """How many threads ``search`` would find with the same filters (no paging)."""
    row = db.fetch_one("count_threads", _filters(status, metadata, values, ids, auth_filter))
    return int(row["count"]) if row else 0


def copy(db: Database, thread_id: uuid.UUID) -> dict | None:
    """Copy the thread and all its checkpoints under a new id (one statement); the new row, or
    None when the thread does not exist. Its runs and TTL are not copied."""
    return db.fetch_one("copy_thread", {"thread_id": thread_id, "new_thread_id": uuid.uuid4()})


def prune(db: Database, thread_ids: list[uuid.UUID], strategy: str = "delete") -> int:
    """``delete``: delete the threads (their runs and checkpoints too); ``keep_latest``: keep the
    threads but only the latest checkpoint of each. Ids of no thread are skipped. Returns how many
    threads were pruned."""
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(f"unknown prune strategy {strategy!r}")
    if not thread_ids:
        return 0
    name = "delete_threads" if strategy == "delete" else "keep_latest_checkpoints"
    return len(db.fetch(name, {"thread_ids": thread_ids}))


@dataclass(frozen=True)
class StateWrite:
    """What a state update wrote: ``result`` for the caller, and the thread's new ``values``,
    ``status`` (``idle``/``interrupted``) and ``interrupts`` (``{task_id: [{"value", "id"}]}``)
    as its latest checkpoint now holds them."""

    result: Any
    values: Any
    status: str
    interrupts: dict[str, list[dict[str, Any]]]


def update_state(db: Database, thread_id: uuid.UUID, write: Callable[[], StateWrite]) -> Any:
    """Call ``write`` (it writes the thread's new checkpoint) while the thread's row is locked and
    no run of it is pending or running, then record the thread's values, status and interrupts in
    the same transaction. Runs created meanwhile wait for the lock and come after the update.

    Returns ``write()``'s ``result``.

    Raises:
        NotFound: the thread does not exist.
        Conflict: a run of the thread is pending or running.
    """

    # the checkpoint is written on a connection of its own and committed by ``write``: a retry
    # of this unit (its COMMIT's acknowledgement lost, say) must not write it a second time
    written_once: list[StateWrite] = []

    def work(conn: Any) -> Any:
        with conn.transaction():
            params = {"thread_id": thread_id}
            if conn.execute(QUERIES["lock_thread"], params).fetchone() is None:
                raise NotFound(f"Thread with ID {thread_id} not found")
            active = conn.execute(QUERIES["thread_active_run"], params).fetchone()
            if active is not None:
                raise Conflict(
                    f"Thread {thread_id} has a {active['status']} run ({active['run_id']}); "
                    "its state can be updated once no run is pending or running"
                )
            if not written_once:
                written_once.append(write())
            written = written_once[0]
            conn.execute(
                QUERIES["set_thread_state"],
                params
                | {
                    "values": jsonb(written.values),
                    "status": written.status,
                    "interrupts": jsonb(written.interrupts),
                },
            )
            return written.result

    return db.run(work, "update_thread_state")


def delete_expired(db: Database, now: datetime.datetime, limit: int) -> list[str]:
    """Delete up to ``limit`` threads whose ``delete`` TTL passed before ``now`` and that have no
    pending or running run (with their runs and checkpoints). Returns their ids."""

    def work(conn: Any) -> list[str]:
        with conn.transaction():
            params = {"now": now, "limit": limit}
            locked = conn.execute(QUERIES["lock_expired_threads"], params).fetchall()
            if not locked:
                return []
            ids = [row["thread_id"] for row in locked]
            rows = conn.execute(QUERIES["delete_expired_threads"], {"thread_ids": ids}).fetchall()
            return [row["thread_id"] for row in rows]

    return db.run(work, "delete_expired_threads")


def trim_expired(db: Database, now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Up to ``limit`` threads whose ``keep_latest`` TTL passed before ``now`` and that have no
    pending or running run: keep only their latest checkpoints and start their TTL again, in one
    transaction. Returns their ids."""

    def work(conn: Any) -> list[uuid.UUID]:
        with conn.transaction():
            rows = conn.execute(
                QUERIES["rearm_expired_threads"], {"now": now, "limit": limit}
            ).fetchall()
            ids = [row["thread_id"] for row in rows]
            if ids:
                conn.execute(QUERIES["keep_latest_checkpoints"], {"thread_ids": ids})
            return ids

    return db.run(work, "trim_expired_threads")
