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

With auth on, each route first calls the ``@auth.on.store`` handler of its action (``put``,
``get``, ``delete``, ``search``, ``list_namespaces``) with ``{"namespace": (...), ...}``; the
namespace it leaves in the value (e.g. prefixed with the user's identity) is the one used.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from app.api.access import authorize
from app.api.common import Blueprint, services
from app.schemas.memory import (
    StoreDeleteSchema,
    StoreGetQuerySchema,
    StoreNamespacesSchema,
    StorePutSchema,
    StoreSearchSchema,
)
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


def _namespace(action: str, value: dict[str, Any]) -> list[str]:
    """The namespace of a store action once the ``store.<action>`` auth handler (if any) has
    seen ``value`` and perhaps rewritten its ``namespace``."""
    if value.get("namespace") is not None:
        value["namespace"] = tuple(value["namespace"])
    authorize("store", action, value)
    return list(value.get("namespace") or ())


@blp.route("/store/items", methods=["PUT"])
@blp.arguments(StorePutSchema)
def put_item(body: dict) -> Any:
    value = {k: body.get(k) for k in ("namespace", "key", "value", "index")}
    namespace = _namespace("put", value)
    memory().put(
        namespace, body["key"], body["value"], index=body.get("index"), ttl=body.get("ttl")
    )
    return "", 204


@blp.route("/store/items", methods=["GET"])
@blp.arguments(StoreGetQuerySchema, location="query")
def get_item(query: dict) -> Any:
    namespace = query["namespace"].split(".") if query["namespace"] else []
    namespace = _namespace("get", {"namespace": namespace, "key": query["key"]})
    item = memory().get(namespace, query["key"], refresh_ttl=query.get("refresh_ttl"))
    return jsonify(item)


@blp.route("/store/items", methods=["DELETE"])
@blp.arguments(StoreDeleteSchema)
def delete_item(body: dict) -> Any:
    namespace = _namespace("delete", {"namespace": body["namespace"], "key": body["key"]})
    memory().delete(namespace, body["key"])
    return "", 204


@blp.route("/store/items/search", methods=["POST"])
@blp.arguments(StoreSearchSchema)
def search_items(body: dict) -> Any:
    value = {
        "namespace": body.get("namespace_prefix") or [],
        **{k: body[k] for k in ("filter", "limit", "offset", "query") if body.get(k) is not None},
    }
    items = memory().search(
        _namespace("search", value),
        filter=body.get("filter"),
        limit=body["limit"],
        offset=body["offset"],
        query=body.get("query"),
        refresh_ttl=body.get("refresh_ttl"),
    )
    return {"items": items}


@blp.route("/store/namespaces", methods=["POST"])
@blp.arguments(StoreNamespacesSchema)
def list_namespaces(body: dict) -> Any:
    value = {
        "namespace": body.get("prefix"),
        **{
            k: body[k]
            for k in ("suffix", "max_depth", "limit", "offset")
            if body.get(k) is not None
        },
    }
    prefix = _namespace("list_namespaces", value)
    namespaces = memory().list_namespaces(
        prefix=prefix or None,
        suffix=body.get("suffix"),
        max_depth=body.get("max_depth"),
        limit=body["limit"],
        offset=body["offset"],
    )
    return {"namespaces": namespaces}
