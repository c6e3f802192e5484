"""Assistants: create, read, patch (a new version each time), delete, search."""

from __future__ import annotations

import uuid
from typing import Any

from app.store import filters
from app.store.db import Database, jsonb

# graph ids map to their default assistant's id exactly as the official server derives it
# (langgraph_api: uuid5 of this namespace and the graph id), so ids match across servers
DEFAULT_ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")

SORT_COLUMNS = ("assistant_id", "graph_id", "name", "created_at", "updated_at")


def default_assistant_id(graph_id: str) -> uuid.UUID:
    """The id of the assistant Callboard creates for ``graph_id`` at start-up."""
    return uuid.uuid5(DEFAULT_ASSISTANT_NAMESPACE, graph_id)


def ensure_default_assistants(db: Database, graph_ids: list[str]) -> None:
    """Create the default assistant of each configured graph if it is missing (idempotent)."""
    for graph_id in graph_ids:
        insert(
            db,
            assistant_id=default_assistant_id(graph_id),
            graph_id=graph_id,
            name=graph_id,
            metadata={"created_by": "system"},
        )


def insert(
    db: Database,
    *,
    assistant_id: uuid.UUID,
    graph_id: str,
    name: str,
    description: str | None = None,
    config: dict | None = None,
    context: dict | None = None,
    metadata: dict | None = None,
) -> dict | None:
    """Insert an assistant; None when the id exists already."""
    return db.fetch_one(
        "insert_assistant",
        {
            "assistant_id": assistant_id,
            "graph_id": graph_id,
            "name": name,
            "description": description,
            "config": jsonb(config or {}),
            "context": jsonb(context or {}),
            "metadata": jsonb(metadata or {}),
        },
    )


def get(db: Database, assistant_id: uuid.UUID, auth_filter: dict | None = None) -> dict | None:
    """The assistant, or None (absent, or excluded by ``auth_filter``: ``app.store.filters``)."""
    params = {"assistant_id": assistant_id, "auth_filter": filters.param(auth_filter)}
    return db.fetch_one("get_assistant", params)


def update(db: Database, assistant_id: uuid.UUID, fields: dict[str, Any]) -> dict | None:
    """Patch ``fields`` (graph_id, name, description, config, context, metadata) as a new version.

    Metadata is merged into the current metadata; the other fields replace. None when absent.
    """
    params = {
        "assistant_id": assistant_id,
        "graph_id": fields.get("graph_id"),
        "name": fields.get("name"),
        "description": fields.get("description"),
        "config": jsonb(fields.get("config")),
        "context": jsonb(fields.get("context")),
        "metadata": jsonb(fields.get("metadata")),
    }
    return db.run(
        lambda conn: _in_transaction(conn, "update_assistant", params), "update_assistant"
    )


def _in_transaction(conn: Any, name: str, params: dict) -> dict | None:
    from app.store.db import QUERIES

    with conn.transaction():
        return conn.execute(QUERIES[name], params).fetchone()


def delete(db: Database, assistant_id: uuid.UUID) -> bool:
    return db.fetch_one("delete_assistant", {"assistant_id": assistant_id}) is not None


def _filters(
    graph_id: str | None, name: str | None, metadata: dict | None, auth_filter: dict | None
) -> dict[str, Any]:
    return {
        "graph_id": graph_id,
        "name": name,
        "metadata": jsonb(metadata or {}),
        "auth_filter": filters.param(auth_filter),
    }


def search(
    db: Database,
    *,
    graph_id: str | None = None,
    name: str | None = None,
    metadata: dict | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str = "created_at",
    sort_order: str = "desc",
    auth_filter: dict | None = None,
) -> list[dict]:
    """Assistants matching all filters (metadata by containment; ``auth_filter``:
    ``app.store.filters``), sorted and paginated."""
    order_by = f"{sort_by} {'ASC' if sort_order == 'asc' else 'DESC'}, assistant_id"
    params = _filters(graph_id, name, metadata, auth_filter) | {"limit": limit, "offset": offset}
    return db.fetch("search_assistants", params, order_by=order_by)


def count(
    db: Database,
    *,
    graph_id: str | None = None,
    name: str | None = None,
    metadata: dict | None = None,
    auth_filter: dict | None = None,
) -> int:
    row = db.fetch_one("count_assistants", _filters(graph_id, name, metadata, auth_filter))
    return int(row["count"]) if row else 0


def list_versions(
    db: Database, assistant_id: uuid.UUID, *, metadata: dict | None, limit: int, offset: int
) -> list[dict]:
    return db.fetch(
        "list_assistant_versions",
        {
            "assistant_id": assistant_id,
            "metadata": jsonb(metadata or {}),
            "limit": limit,
            "offset": offset,
        },
    )


def set_latest(db: Database, assistant_id: uuid.UUID, version: int) -> dict | None:
    return db.fetch_one(
        "set_latest_assistant_version", {"assistant_id": assistant_id, "version": version}
    )
