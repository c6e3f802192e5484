"""``/assistants``: create, get, patch (new version), delete, search, count, versions, graph."""

from __future__ import annotations

import uuid
from typing import Any

from app.api import schemas
from app.api.common import Blueprint, dump_assistant, resolve_assistant, select, services
from app.errors import Conflict, InvalidInput, NotFound
from app.store import assistants as assistant_store

blp = Blueprint("assistants", __name__, description="Assistants: configured graphs")


def _require_graph(graph_id: str) -> None:
    svc = services()
    if graph_id not in svc.registry:
        raise NotFound(f"Graph {graph_id!r} not found. Expected one of: {svc.registry.ids}")


@blp.route("/assistants", methods=["POST"])
@blp.arguments(schemas.AssistantCreateSchema)
def create(body: dict) -> Any:
    _require_graph(body["graph_id"])
    svc = services()
    assistant_id = body.get("assistant_id") or uuid.uuid4()
    row = assistant_store.insert(
        svc.db,
        assistant_id=assistant_id,
        graph_id=body["graph_id"],
        name=body.get("name") or "Untitled",
        description=body.get("description"),
        config=body.get("config"),
        context=body.get("context"),
        metadata=body.get("metadata"),
    )
    if row is None:
        if body["if_exists"] == "do_nothing":
            row = assistant_store.get(svc.db, assistant_id)
            if row is not None:
                return dump_assistant(row)
        raise Conflict(f"Assistant {assistant_id} already exists")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>", methods=["GET"])
def get(assistant_id: str) -> Any:
    return dump_assistant(resolve_assistant(assistant_id))


@blp.route("/assistants/<assistant_id>", methods=["PATCH"])
@blp.arguments(schemas.AssistantPatchSchema)
def patch(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id)
    if "graph_id" in body:
        _require_graph(body["graph_id"])
    row = assistant_store.update(services().db, current["assistant_id"], body)
    if row is None:
        raise NotFound(f"Assistant {assistant_id!r} not found")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>", methods=["DELETE"])
def delete(assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id)
    assistant_store.delete(services().db, current["assistant_id"])
    return "", 204


@blp.route("/assistants/search", methods=["POST"])
@blp.arguments(schemas.AssistantSearchSchema)
def search(body: dict) -> Any:
    rows = assistant_store.search(
        services().db,
        graph_id=body.get("graph_id"),
        name=body.get("name"),
        metadata=body.get("metadata"),
        limit=body["limit"],
        offset=body["offset"],
        sort_by=body["sort_by"],
        sort_order=body["sort_order"],
    )
    return [select(dump_assistant(r), body.get("select")) for r in rows]


@blp.route("/assistants/count", methods=["POST"])
@blp.arguments(schemas.AssistantCountSchema)
def count(body: dict) -> Any:
    from flask import jsonify  # a bare int is not a valid Flask response

    return jsonify(
        assistant_store.count(
            services().db,
            graph_id=body.get("graph_id"),
            name=body.get("name"),
            metadata=body.get("metadata"),
        )
    )


@blp.route("/assistants/<assistant_id>/versions", methods=["POST"])
@blp.arguments(schemas.AssistantVersionsSchema)
def versions(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id)
    rows = assistant_store.list_versions(
        services().db,
        current["assistant_id"],
        metadata=body.get("metadata"),
        limit=body["limit"],
        offset=body["offset"],
    )
    return [dump_assistant(r) for r in rows]


@blp.route("/assistants/<assistant_id>/latest", methods=["POST"])
@blp.arguments(schemas.AssistantLatestSchema)
def set_latest(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id)
    row = assistant_store.set_latest(services().db, current["assistant_id"], body["version"])
    if row is None:
        raise NotFound(f"Assistant {assistant_id!r} has no version {body['version']}")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>/graph", methods=["GET"])
def graph(assistant_id: str) -> Any:
    from flask import request

    current = resolve_assistant(assistant_id)
    xray_arg = request.args.get("xray", "false").lower()
    # a boolean, or (as the SDK documents) the depth of subgraphs to include
    if xray_arg not in ("true", "false") and not (
        xray_arg.isascii() and xray_arg.isdigit() and len(xray_arg) <= 6
    ):
        raise InvalidInput("xray must be a boolean or a non-negative integer")
    xray: bool | int = xray_arg == "true" if xray_arg in ("true", "false") else int(xray_arg)
    spec = services().registry.get(current["graph_id"])
    drawable = spec.graph.get_graph(xray=xray)
    return drawable.to_json()
