"""Schema migrations: ``migrations/NNNN_*.sql`` applied by yoyo-migrations, then LangGraph's own
tables (``langgraph-checkpoint-postgres``'s checkpointer and store).

``python -m migrations`` is the Procfile's ``release`` line. It is safe to run twice (applied
migrations are skipped) and from several processes at once (a session-level advisory lock
serializes them, and yoyo keeps its own lock table).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
# any constant works: it only has to be the same in every process that migrates
_ADVISORY_LOCK_KEY = 0x43414C4C424F41  # "CALLBOA"


def _yoyo_url(database_url: str) -> str:
    """yoyo wants ``postgresql+psycopg://``; operators give ``postgres(ql)://``."""
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ValueError(f"DATABASE_URL is not a URL: {database_url!r}")
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg"
    return f"{scheme}://{rest}"


def _wait_for_lock(conn: psycopg.Connection, timeout: float = 600.0) -> None:
    """Take the migration lock, polling ``pg_try_advisory_lock`` every 100 ms.

    Not ``pg_advisory_lock``: a process blocked in it sits in an open transaction, and the
    checkpointer's ``CREATE INDEX CONCURRENTLY`` in the lock holder waits for every open
    transaction to end, so the two would wait for each other forever.

    Raises:
        TimeoutError: the lock was not free for ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise TimeoutError("another process has held the migration lock for too long")
        time.sleep(0.1)


def apply_all(database_url: str, store_index: dict | None = None) -> int:
    """Apply every pending migration to ``database_url``; return how many SQL files were applied.
    With ``store_index`` (LangGraph's ``IndexConfig``: ``langgraph.json`` ``store.index``), the
    store's vector table and index are created too (they need the ``vector`` extension).

    Raises:
        psycopg.Error: the database cannot be reached or a migration fails (nothing of the
            failing file is kept: each file runs in its own transaction).
    """
    # imported here so that importing this package stays cheap for the tests' helpers
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore

    with psycopg.connect(database_url, autocommit=True) as lock_conn:
        _wait_for_lock(lock_conn)
        try:
            backend = get_backend(_yoyo_url(database_url))
            # only NNNN_*.sql: yoyo would also take this package's own .py files for migrations
            migrations = MigrationList(
                [m for m in read_migrations(str(MIGRATIONS_DIR)) if m.id[:4].isdigit()]
            )
            try:
                with backend.lock():
                    todo = backend.to_apply(migrations)
                    backend.apply_migrations(todo)
            finally:
                backend.connection.close()
            for migration in todo:
                logger.info("applied migration %s", migration.id)
            with psycopg.connect(database_url, autocommit=True) as conn:
                PostgresSaver(conn).setup()  # type: ignore[arg-type]
                PostgresStore(conn, index=store_index).setup()  # type: ignore[arg-type]
            return len(todo)
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_KEY,))
