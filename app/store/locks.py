"""Advisory locks (``locks.sql``): one holder at a time for work that several processes may
start (the sweeper's tick)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from app.store.db import QUERIES, Database

T = TypeVar("T")


def while_holding(db: Database, key: int, work: Callable[[], T], what: str) -> T | None:
    """Take the transaction-scoped advisory lock ``key`` (a 64-bit integer) without waiting, and
    while holding it (its transaction stays open) call ``work()``; the lock is released at the
    transaction's end.

    Returns what ``work()`` returns, or None (``work`` not called) when another session holds
    the lock.
    ``work`` runs on connections of its own: it is not inside the lock's transaction.
    """

    def unit(conn: Any) -> T | None:
        with conn.transaction():
            got = conn.execute(QUERIES["try_advisory_lock"], {"key": key}).fetchone()
            if not got["locked"]:
                return None
            return work()

    return db.run(unit, what)
