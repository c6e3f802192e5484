"""Crons: create, read, patch, delete, search, and the firing of due occurrences (``crons.sql``).

Exactly one run per occurrence, however many sweepers fire at once: ``fire_due`` takes the due
crons ``FOR UPDATE SKIP LOCKED`` and, in the same transaction, moves each one's
``next_run_date`` on (fenced on the occurrence it read) and inserts its run. A second sweeper
skips the rows the first holds, and once the first commits they are no longer due.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors

from app.errors import Conflict, InvalidInput, NotFound
from app.store import filters
from app.store import run_creation
from app.store.db import QUERIES, Database, jsonb

logger = logging.getLogger(__name__)

SORT_COLUMNS = (
    "cron_id",
    "assistant_id",
    "thread_id",
    "created_at",
    "updated_at",
    "next_run_date",
    "end_time",
)

# the columns a PATCH may change (``update``'s ``change`` returns them all)
PATCHABLE = (
    "schedule",
    "timezone",
    "end_time",
    "payload",
    "metadata",
    "on_run_completed",
    "enabled",
    "next_run_date",
)


def insert(
    db: Database,
    *,
    cron_id: uuid.UUID,
    assistant_id: uuid.UUID,
    thread_id: uuid.UUID | None,
    schedule: str,
    timezone: str | None,
    end_time: datetime.datetime | None,
    payload: dict,
    metadata: dict,
    on_run_completed: str | None,
    enabled: bool,
    next_run_date: datetime.datetime | None,
    user_id: str | None = None,
) -> dict:
    """Insert a cron and return its row (``user_id``: the identity that created it, when auth
    is on; its runs are made in that identity's name).

    Raises:
        NotFound: the thread (or the assistant) does not exist (any more).
    """
    params = {
        "cron_id": cron_id,
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "user_id": user_id,
        "schedule": schedule,
        "timezone": timezone,
        "end_time": end_time,
        "payload": jsonb(payload),
        "metadata": jsonb(metadata),
        "on_run_completed": on_run_completed,
        "enabled": enabled,
        "next_run_date": next_run_date,
    }

    def work(conn: Any) -> dict:
        try:
            return conn.execute(QUERIES["insert_cron"], params).fetchone()
        except psycopg.errors.ForeignKeyViolation:
            if thread_id is not None:
                raise NotFound(f"Thread with ID {thread_id} not found") from None
            raise NotFound(f"Assistant {assistant_id} not found") from None

    return db.run(work, "insert_cron")


def get(db: Database, cron_id: uuid.UUID, auth_filter: dict | None = None) -> dict | None:
    """The cron, or None (absent, or excluded by ``auth_filter``: ``app.store.filters``)."""
    return db.fetch_one("get_cron", {"cron_id": cron_id, "auth_filter": filters.param(auth_filter)})


def update(db: Database, cron_id: uuid.UUID, change: Callable[[dict], dict]) -> dict | None:
    """Patch a cron: ``change(row)`` gets the current row (locked until COMMIT) and returns the
    new values of every ``PATCHABLE`` column. None when the cron does not exist.

    Whatever ``change`` raises (e.g. ``InvalidInput``) rolls the transaction back and propagates.
    """

    def work(conn: Any) -> dict | None:
        with conn.transaction():
            row = conn.execute(QUERIES["lock_cron"], {"cron_id": cron_id}).fetchone()
            if row is None:
                return None
            values = change(row)
            params = {name: values[name] for name in PATCHABLE}
            params["payload"] = jsonb(params["payload"])
            params["metadata"] = jsonb(params["metadata"])
            return conn.execute(QUERIES["update_cron"], {**params, "cron_id": cron_id}).fetchone()

    return db.run(work, "update_cron")


def delete(db: Database, cron_id: uuid.UUID) -> bool:
    return db.fetch_one("delete_cron", {"cron_id": cron_id}) is not None


def _filters(
    assistant_id: uuid.UUID | None,
    thread_id: uuid.UUID | None,
    enabled: bool | None,
    metadata: dict | None,
    auth_filter: dict | None,
) -> dict[str, Any]:
    return {
        "assistant_id": assistant_id,
        "thread_id": thread_id,
        "enabled": enabled,
        "metadata": jsonb(metadata or {}),
        "auth_filter": filters.param(auth_filter),
    }


def search(
    db: Database,
    *,
    assistant_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    enabled: bool | None = None,
    metadata: dict | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    auth_filter: dict | None = None,
) -> list[dict]:
    """Crons matching all filters (metadata by containment; ``auth_filter``:
    ``app.store.filters``), sorted and paginated."""
    if sort_by not in SORT_COLUMNS:
        raise ValueError(f"cannot sort crons by {sort_by!r}")
    order_by = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}, cron_id"
    params = _filters(assistant_id, thread_id, enabled, metadata, auth_filter)
    return db.fetch("search_crons", params | {"limit": limit, "offset": offset}, order_by=order_by)


def count(
    db: Database,
    *,
    assistant_id: uuid.UUID | None = None,
    thread_id: uuid.UUID | None = None,
    enabled: bool | None = None,
    metadata: dict | None = None,
    auth_filter: dict | None = None,
) -> int:
    params = _filters(assistant_id, thread_id, enabled, metadata, auth_filter)
    row = db.fetch_one("count_crons", params)
    return int(row["count"]) if row else 0


# --- firing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """One occurrence taken by ``fire_due``.

    ``created`` is the run created for it (``created.row``; ``created.superseded``: the runs its
    multitask strategy interrupt/rollback cancelled, to announce after COMMIT), or None when no
    run was created (the plan gave none, the thread was busy under "reject", or the run could
    not be stored: the reason is logged). ``next_run_date`` is where the cron moved to (None:
    no more runs).
    """

    cron_id: uuid.UUID
    occurrence: datetime.datetime
    next_run_date: datetime.datetime | None
    created: run_creation.Created | None

    @property
    def run(self) -> dict | None:
        return self.created.row if self.created is not None else None


# plan(cron row, assistant row or None) -> (the run to create or None, the cron's next
#                                            occurrence or None)
Plan = Callable[[dict, dict | None], tuple[run_creation.NewRun | None, datetime.datetime | None]]


def fire_due(db: Database, now: datetime.datetime, plan: Plan, *, limit: int = 100) -> list[Fired]:
    """Fire the enabled crons due at ``now`` (``next_run_date <= now``), at most ``limit``, in
    one transaction: for each, move ``next_run_date`` to what ``plan`` says and insert the run
    it builds (``app.run_requests.build_run``'s). The caller sends the runs' messages after this
    returns (after COMMIT).

    Parameters:
        now: an aware datetime; the instant the occurrences are due against.
        plan: see ``Plan``; must not touch the database (it may be called again on a retry).
    """

    def work(conn: Any) -> list[Fired]:
        fired: list[Fired] = []
        with conn.transaction():
            due = conn.execute(QUERIES["lock_due_crons"], {"now": now, "limit": limit}).fetchall()
            for cron in due:
                assistant = conn.execute(
                    QUERIES["get_assistant"],
                    {"assistant_id": cron["assistant_id"], "auth_filter": None},
                ).fetchone()
                new, next_run_date = plan(cron, assistant)
                advanced = conn.execute(
                    QUERIES["advance_cron"],
                    {
                        "cron_id": cron["cron_id"],
                        "fired": cron["next_run_date"],
                        "next_run_date": next_run_date,
                    },
                ).fetchone()
                if advanced is None:  # cannot happen under the row lock; never fire twice
                    continue
                created = _insert_run(conn, cron, new) if new else None
                fired.append(Fired(cron["cron_id"], cron["next_run_date"], next_run_date, created))
        return fired

    return db.run(work, "fire_due_crons")


def _insert_run(conn: Any, cron: dict, new: run_creation.NewRun) -> run_creation.Created | None:
    """Insert the run of one occurrence as the API inserts runs
    (``app.store.run_creation.create_in``: multitask strategy under the thread's lock), in a
    savepoint: a run that cannot be created is logged and skipped without undoing the other
    crons of the batch."""
    cron_id = str(cron["cron_id"])
    try:
        with conn.transaction():
            return run_creation.create_in(conn, new)
    except Conflict as exc:  # multitask_strategy "reject" on a busy thread
        logger.info("cron %r: no run for this occurrence: %s", cron_id, exc)
    except NotFound as exc:
        logger.warning("cron %r: no run for this occurrence: %s", cron_id, exc)
    except (psycopg.DataError, psycopg.IntegrityError, InvalidInput) as exc:
        logger.error("cron %r: its run could not be stored: %s", cron_id, exc)
    return None
