"""``/store``: the long-term memory store (LangGraph's ``PostgresStore``, shared with the graphs
at run time), with the routes and shapes ``langgraph-sdk``'s ``store`` client calls:

- ``PUT /store/items`` ``{namespace, key, value, index?, ttl?}`` → 204;
- ``GET /store/items?namespace=a.b&key=k[&refresh_ttl=]`` → the item, or ``null`` when there is
  none (as the official server answers);
- ``DELETE /store/items`` ``{namespace, key}`` → 204 (also when there was nothing to delete);
- ``POST /store/items/search`` ``{namespace_prefix, filter, limit, offset, query, refresh_ttl}``
  → ``{"items": [...]}``; ``query`` ranks by semantic similarity when ``langgraph.json`` has
  ``store.index`` (``app.store.vectors``), and is ignored otherwise;
- ``POST /store/namespaces`` ``{prefix, suffix, max_depth, limit, offset}`` →
  ``{"namespaces": [[...], ...]}``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from app.api import schemas
from app.api.common import Blueprint, services
from app.store.memory import MemoryStore
from app.store.vectors import index_config

blp = Blueprint("store", __name__, description="The long-term memory store")


def memory() -> MemoryStore:
    """This process's ``MemoryStore`` (built on first use over the checkpoint pool)."""
    store = current_app.extensions.get("callboard_memory")
    if store is None:
        svc = services()
        store = MemoryStore(
            svc.checkpoint_pool,
            retry_seconds=svc.db.retry_seconds,
            index=index_config(svc.registry.deployment),
        )
        current_app.extensions["callboard_memory"] = store
    return store


@blp.route("/store/items", methods=["PUT"])
@blp.arguments(schemas.StorePutSchema)
def put_item(body: dict) -> Any:
    memory().put(
        body["namespace"], body["key"], body["value"], index=body.get("index"), ttl=body.get("ttl")
    )
    return "", 204


@blp.route("/store/items", methods=["GET"])
@blp.arguments(schemas.StoreGetQuerySchema, location="query")
def get_item(query: dict) -> Any:
    namespace = query["namespace"].split(".") if query["namespace"] else []
    item = memory().get(namespace, query["key"], refresh_ttl=query.get("refresh_ttl"))
    return jsonify(item)


@blp.route("/store/items", methods=["DELETE"])
@blp.arguments(schemas.StoreDeleteSchema)
def delete_item(body: dict) -> Any:
    memory().delete(body["namespace"], body["key"])
    return "", 204


@blp.route("/store/items/search", methods=["POST"])
@blp.arguments(schemas.StoreSearchSchema)
def search_items(body: dict) -> Any:
    items = memory().search(
        body.get("namespace_prefix") or [],
        filter=body.get("filter"),
        limit=body["limit"],
        offset=body["offset"],
        query=body.get("query"),
        refresh_ttl=body.get("refresh_ttl"),
    )
    return {"items": items}


@blp.route("/store/namespaces", methods=["POST"])
@blp.arguments(schemas.StoreNamespacesSchema)
def list_namespaces(body: dict) -> Any:
    namespaces = memory().list_namespaces(
        prefix=body.get("prefix"),
        suffix=body.get("suffix"),
        max_depth=body.get("max_depth"),
        limit=body["limit"],
        offset=body["offset"],
    )
    return {"namespaces": namespaces}
