"""Task runs' extra state (migration 0011): canvas links, retries, result expiry.

Every function that takes ``conn`` works inside the caller's transaction (a finish, a canvas
creation, a caller's own transaction for ``enqueue_in``); ``conn`` may be a connection or a
cursor whose rows are dicts.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.errors import StoreUnavailable
from app.store.db import QUERIES, Database, jsonb
from app.store.runs import Claim


def insert_deferred(
    conn: Any, run_id: uuid.UUID, request: dict, waiting_for: int, kind: str
) -> None:
    """Record a run to create once ``waiting_for`` linked runs succeeded (``kind``: ``chain`` |
    ``chord``)."""
    conn.execute(
        QUERIES["insert_deferred_run"],
        {"run_id": run_id, "request": jsonb(request), "waiting_for": waiting_for, "kind": kind},
    )


def link(conn: Any, run_id: uuid.UUID, deferred_run_id: uuid.UUID, position: int = 0) -> None:
    """``deferred_run_id`` waits for ``run_id``."""
    conn.execute(
        QUERIES["insert_run_link"],
        {"run_id": run_id, "deferred_run_id": deferred_run_id, "position": position},
    )


def record_result(conn: Any, run_id: uuid.UUID, output: Any) -> list[dict]:
    """The linked run ``run_id`` succeeded with ``output``: the deferred runs now due (rows of
    ``deferred_runs``), each returned to exactly one caller."""
    return conn.execute(
        QUERIES["record_link_result"], {"run_id": run_id, "output": jsonb(output)}
    ).fetchall()


def link_results(conn: Any, deferred_run_id: uuid.UUID) -> list[Any]:
    """The results of the runs ``deferred_run_id`` waited for, in their order."""
    rows = conn.execute(QUERIES["link_results"], {"run_id": deferred_run_id}).fetchall()
    return [row["result"] for row in rows]


def get_assistant_in(conn: Any, assistant_id: uuid.UUID) -> dict | None:
    """The assistant (no auth filter: the caller checked access, or is the worker)."""
    params = {"assistant_id": assistant_id, "auth_filter": None}
    return conn.execute(QUERIES["get_assistant"], params).fetchone()


def get_run(db: Database, run_id: uuid.UUID) -> dict | None:
    """A run by id alone."""
    return db.fetch_one("get_task_run", {"run_id": run_id})


def retry(
    db: Database, claim: Claim, *, delay_seconds: float, error: dict[str, Any]
) -> dict | None:
    """running → pending for a task's retry, due in ``delay_seconds``; None when the lease was
    lost or a cancel was asked."""
    return db.fetch_one(
        "retry_run",
        {
            "run_id": claim.run_id,
            "claim_token": claim.claim_token,
            "delay_seconds": float(delay_seconds),
            "error": jsonb(error),
        },
    )


def expired_threads(db: Database, now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Temporary threads of finished runs whose ``result_expires`` has passed at ``now``."""
    rows = db.fetch("expired_task_runs", {"now": now, "limit": limit})
    return [row["thread_id"] for row in rows]


RUNS_CREATED_CHANNEL = "callboard_runs_created"


def notify_created(conn: Any, row: dict, queue: str | None, delay: float) -> None:
    """``NOTIFY`` the creation of the run ``row`` inside the caller's transaction: delivered to
    listeners at COMMIT, never for a rolled-back transaction."""
    conn.execute(
        QUERIES["notify_run_created"],
        {"run_id": row["run_id"], "version": row["version"], "queue": queue, "delay": delay},
    )


def caller_cursor(conn: Any) -> Any:
    """A cursor whose rows are dicts on a caller's own psycopg 3 connection (``enqueue_in``):
    it runs in the caller's transaction, which the caller commits or rolls back."""
    return conn.cursor(row_factory=dict_row)


def listen_created_runs(
    database_url: str,
    on_payload: Callable[[str], None],
    *,
    stopping: threading.Event,
    listening: threading.Event,
) -> None:
    """``LISTEN`` on ``RUNS_CREATED_CHANNEL`` on a connection of its own (autocommit) and call
    ``on_payload(payload)`` (the JSON text ``notify_created`` sent) for each notification, until
    ``stopping`` is set (checked at least once a second). ``listening`` is set once ``LISTEN`` is
    in effect.

    Raises:
        StoreUnavailable: the connection could not be made or was lost; the caller reconnects
            (notifications sent meanwhile are lost).
    """
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"LISTEN {RUNS_CREATED_CHANNEL}")
            listening.set()
            while not stopping.is_set():
                for notify in conn.notifies(timeout=1.0):
                    on_payload(notify.payload)
    except psycopg.Error as exc:
        raise StoreUnavailable(str(exc)) from exc


def drop_deferred(conn: Any, run_id: uuid.UUID) -> list[dict]:
    """The linked run ``run_id`` ended without success: delete the deferred runs still waiting
    for it (rows of ``deferred_runs``, each returned to exactly one caller)."""
    return conn.execute(QUERIES["drop_deferred_runs"], {"run_id": run_id}).fetchall()


def fail_created(conn: Any, run_id: uuid.UUID, error: dict[str, Any]) -> dict | None:
    """pending → error for a run just created in this transaction (``output`` ``{"__error__":
    error}``, as a task's own failure); None when it was not pending."""
    params = {"run_id": run_id, "error": jsonb(error), "output": jsonb({"__error__": error})}
    return conn.execute(QUERIES["fail_created_run"], params).fetchone()


def unreleased_failed_links(db: Database, limit: int) -> list[dict]:
    """Runs ended without success whose waiting runs were not failed with them (rows of
    ``runs``): those ended by a revoke while pending, used-up attempts or a lapsed lease."""
    return db.fetch("unreleased_failed_links", {"limit": limit})
