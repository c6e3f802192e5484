"""Threads: create, read, patch metadata, delete, search."""

from __future__ import annotations

import uuid

from app.store.db import Database, jsonb

SORT_COLUMNS = ("thread_id", "status", "created_at", "updated_at")


def insert(db: Database, thread_id: uuid.UUID, metadata: dict | None = None) -> dict | None:
    """Insert a thread; None when the id exists already."""
    return db.fetch_one(
        "insert_thread", {"thread_id": thread_id, "metadata": jsonb(metadata or {})}
    )


def get(db: Database, thread_id: uuid.UUID) -> dict | None:
    return db.fetch_one("get_thread", {"thread_id": thread_id})


def update(db: Database, thread_id: uuid.UUID, metadata: dict) -> dict | None:
    """Merge ``metadata`` into the thread's metadata; None when the thread does not exist."""
    return db.fetch_one("update_thread", {"thread_id": thread_id, "metadata": jsonb(metadata)})


def delete(db: Database, thread_id: uuid.UUID) -> bool:
    """Delete the thread, its runs and its checkpoints; False if it did not exist."""
    return db.fetch_one("delete_thread", {"thread_id": thread_id}) is not None


def _filters(status: str | None, metadata: dict | None, ids: list[uuid.UUID] | None) -> dict:
    return {"status": status, "metadata": jsonb(metadata or {}), "ids": ids}


def search(
    db: Database,
    *,
    status: str | None = None,
    metadata: dict | None = None,
    ids: list[uuid.UUID] | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
) -> list[dict]:
    order_by = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}, thread_id"
    params = _filters(status, metadata, ids) | {"limit": limit, "offset": offset}
    return db.fetch("search_threads", params, order_by=order_by)


def count(
    db: Database,
    *,
    status: str | None = None,
    metadata: dict | None = None,
    ids: list[uuid.UUID] | None = None,
) -> int:
    row = db.fetch_one("count_threads", _filters(status, metadata, ids))
    return int(row["count"]) if row else 0
