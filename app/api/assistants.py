"""``/assistants``: create, get, patch (new version), delete, search, count, versions, graph,
schemas and subgraphs of the assistant's graph."""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

from langchain_core.runnables.utils import create_model
from langgraph.pregel import Pregel
from pydantic import TypeAdapter

from app.api.access import authorize
from app.api.common import Blueprint, dump_assistant, paginated, resolve_assistant, select, services
from app.errors import Conflict, InvalidInput, NotFound
from app.schemas.assistants import (
    AssistantCountSchema,
    AssistantCreateSchema,
    AssistantLatestSchema,
    AssistantPatchSchema,
    AssistantSearchSchema,
    AssistantSubgraphsQuerySchema,
    AssistantVersionsSchema,
)
from app.store import assistants as assistant_store
from app.typeddicts import needs_conversion, pydantic_compatible

logger = logging.getLogger(__name__)

blp = Blueprint("assistants", __name__, description="Assistants: configured graphs")


def _require_graph(graph_id: str) -> None:
    svc = services()
    if graph_id not in svc.registry:
        raise NotFound(f"Graph {graph_id!r} not found. Expected one of: {svc.registry.ids}")


@blp.route("/assistants", methods=["POST"])
@blp.arguments(AssistantCreateSchema)
def create(body: dict) -> Any:
    _require_graph(body["graph_id"])
    svc = services()
    assistant_id = body.get("assistant_id") or uuid.uuid4()
    value = {**body, "assistant_id": assistant_id, "metadata": dict(body.get("metadata") or {})}
    auth_filter = authorize("assistants", "create", value)
    row = assistant_store.insert(
        svc.db,
        assistant_id=assistant_id,
        graph_id=body["graph_id"],
        name=body.get("name") or "Untitled",
        description=body.get("description"),
        config=body.get("config"),
        context=body.get("context"),
        metadata=value["metadata"],
    )
    if row is None:
        if body["if_exists"] == "do_nothing":
            row = assistant_store.get(svc.db, assistant_id, auth_filter)
            if row is not None:
                return dump_assistant(row)
        raise Conflict(f"Assistant {assistant_id} already exists")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>", methods=["GET"])
def get(assistant_id: str) -> Any:
    return dump_assistant(resolve_assistant(assistant_id, "read"))


@blp.route("/assistants/<assistant_id>", methods=["PATCH"])
@blp.arguments(AssistantPatchSchema)
def patch(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id, "update")
    if "graph_id" in body:
        _require_graph(body["graph_id"])
    row = assistant_store.update(services().db, current["assistant_id"], body)
    if row is None:
        raise NotFound(f"Assistant {assistant_id!r} not found")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>", methods=["DELETE"])
def delete(assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id, "delete")
    assistant_store.delete(services().db, current["assistant_id"])
    return "", 204


@blp.route("/assistants/search", methods=["POST"])
@blp.arguments(AssistantSearchSchema)
def search(body: dict) -> Any:
    rows = assistant_store.search(
        services().db,
        graph_id=body.get("graph_id"),
        name=body.get("name"),
        metadata=body.get("metadata"),
        limit=body["limit"] + 1,
        offset=body["offset"],
        sort_by=body["sort_by"],
        sort_order=body["sort_order"],
        auth_filter=authorize("assistants", "search", _search_value(body)),
    )
    items = [select(dump_assistant(r), body.get("select")) for r in rows]
    return paginated(items, body["offset"], body["limit"])


def _search_value(body: dict) -> dict[str, Any]:
    """The ``value`` of ``assistants.search`` (``langgraph_sdk.auth.types.AssistantsSearch``)."""
    return {
        name: body[name]
        for name in ("graph_id", "metadata", "limit", "offset")
        if body.get(name) is not None
    }


@blp.route("/assistants/count", methods=["POST"])
@blp.arguments(AssistantCountSchema)
def count(body: dict) -> Any:
    from flask import jsonify  # a bare int is not a valid Flask response

    return jsonify(
        assistant_store.count(
            services().db,
            graph_id=body.get("graph_id"),
            name=body.get("name"),
            metadata=body.get("metadata"),
            auth_filter=authorize("assistants", "search", _search_value(body)),
        )
    )


@blp.route("/assistants/<assistant_id>/versions", methods=["POST"])
@blp.arguments(AssistantVersionsSchema)
def versions(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id, "read")
    rows = assistant_store.list_versions(
        services().db,
        current["assistant_id"],
        metadata=body.get("metadata"),
        limit=body["limit"],
        offset=body["offset"],
    )
    # a version is immutable: it has no updated_at in the official server's answer
    return [{k: v for k, v in dump_assistant(r).items() if k != "updated_at"} for r in rows]


@blp.route("/assistants/<assistant_id>/latest", methods=["POST"])
@blp.arguments(AssistantLatestSchema)
def set_latest(body: dict, assistant_id: str) -> Any:
    current = resolve_assistant(assistant_id, "update")
    row = assistant_store.set_latest(services().db, current["assistant_id"], body["version"])
    if row is None:
        raise NotFound(f"Assistant {assistant_id!r} has no version {body['version']}")
    return dump_assistant(row)


@blp.route("/assistants/<assistant_id>/graph", methods=["GET"])
def graph(assistant_id: str) -> Any:
    from flask import request

    current = resolve_assistant(assistant_id, "read")
    xray_arg = request.args.get("xray", "false").lower()
    # a boolean, or (as the SDK documents) the depth of subgraphs to include
    if xray_arg not in ("true", "false") and not (
        xray_arg.isascii() and xray_arg.isdigit() and len(xray_arg) <= 6
    ):
        raise InvalidInput("xray must be a boolean or a non-negative integer")
    xray: bool | int = xray_arg == "true" if xray_arg in ("true", "false") else int(xray_arg)
    spec = services().registry.get(current["graph_id"])
    try:
        drawing = spec.graph.get_graph(xray=xray).to_json()
    except NotImplementedError:
        raise InvalidInput("The graph does not support visualization") from None
    for node in drawing.get("nodes", []):  # the official server leaves out the class path
        if isinstance(node.get("data"), dict):
            node["data"].pop("id", None)
    return drawing


# names of LangGraph's own configurable keys, left out of config_schema (as the official server)
_INTERNAL_CONFIGURABLE = (
    "__pregel_checkpointer",
    "__pregel_store",
    "checkpoint_id",
    "checkpoint_ns",
    "thread_id",
)


def _config_schema(graph: Pregel) -> dict[str, Any]:
    """The JSON schema of the ``configurable`` part of the graph's config ({} if none): since
    LangGraph 1.0 that is its context schema (what the deprecated ``config_schema()`` says)."""
    if graph.context_schema is None:
        return {}
    schema = TypeAdapter(graph.context_schema).json_schema()
    for key in _INTERNAL_CONFIGURABLE:
        schema.get("properties", {}).pop(key, None)
    return schema


def _state_schema(graph: Pregel) -> dict[str, Any]:
    """The JSON schema of the graph's state: one property per output channel."""
    fields: dict[str, Any] = {}
    for name in graph.stream_channels_list:
        update_type = getattr(graph.channels[name], "UpdateType", Any)
        try:
            create_model(name, __root__=(update_type, None)).model_json_schema()
            fields[name] = (update_type, None)
        except Exception:  # noqa: BLE001 - a type pydantic cannot describe: any value
            fields[name] = (Any, None)
    return create_model(graph.get_name("State"), **fields).model_json_schema()


def _io_schema(graph: Pregel, which: str) -> dict[str, Any]:
    """LangGraph's input or output JSON schema; for a ``StateGraph`` whose schema is a
    ``typing.TypedDict`` on Python < 3.12 (which pydantic refuses), the schema pydantic gives
    for it on 3.12, as LangGraph would compute it there (``TypeAdapter(schema).json_schema()``)."""
    builder = getattr(graph, "builder", None)
    typ = getattr(builder, f"{which}_schema", None)
    if typ is not None and needs_conversion(typ):
        return TypeAdapter(pydantic_compatible(typ)).json_schema()
    return graph.get_input_jsonschema() if which == "input" else graph.get_output_jsonschema()


def graph_schemas(graph: Pregel) -> dict[str, Any]:
    """``input_schema``, ``output_schema``, ``state_schema``, ``config_schema`` and
    ``context_schema`` of a compiled graph as JSON schemas; each is None when LangGraph or
    pydantic cannot describe it, as the official server answers. A ``typing.TypedDict`` state is
    described on Python 3.11 too (``app.typeddicts``)."""
    makers = {
        "input_schema": lambda: _io_schema(graph, "input"),
        "output_schema": lambda: _io_schema(graph, "output"),
        "state_schema": lambda: _state_schema(graph),
        "config_schema": lambda: _config_schema(graph),
        "context_schema": graph.get_context_jsonschema,
    }
    schemas_: dict[str, Any] = {}
    for name, make in makers.items():
        try:
            schemas_[name] = make()
        except Exception as exc:  # noqa: BLE001 - the graph's types, not the request
            logger.warning("graph %r: no %s (%s: %s)", graph.name, name, type(exc).__name__, exc)
            schemas_[name] = None
    return schemas_


@blp.route("/assistants/<assistant_id>/schemas", methods=["GET"])
def get_schemas(assistant_id: str) -> Any:
    """The JSON schemas of the assistant's graph (``langgraph_sdk`` ``GraphSchema``)."""
    current = resolve_assistant(assistant_id, "read")
    return {"graph_id": current["graph_id"], **graph_schemas(_named_graph(current["graph_id"]))}


def _named_graph(graph_id: str) -> Pregel:
    """The registered graph, named after its graph id when it kept LangGraph's default name (the
    schemas' titles derive from it, as the official server's do)."""
    graph = services().registry.get(graph_id).graph
    if graph.name != "LangGraph":
        return graph
    return cast(Pregel, graph.copy(update={"name": graph_id}))


@blp.route("/assistants/<assistant_id>/subgraphs", methods=["GET"])
@blp.route("/assistants/<assistant_id>/subgraphs/<path:namespace>", methods=["GET"])
@blp.arguments(AssistantSubgraphsQuerySchema, location="query")
def get_subgraphs(query: dict, assistant_id: str, namespace: str | None = None) -> Any:
    """``{namespace: schemas}`` of the graph's subgraphs (only those under ``namespace``
    when given; ``recurse=true``: their subgraphs too, namespaces joined by ``|``)."""
    current = resolve_assistant(assistant_id, "read")
    graph = _named_graph(current["graph_id"])
    return {
        ns: graph_schemas(cast(Pregel, subgraph))
        for ns, subgraph in graph.get_subgraphs(namespace=namespace, recurse=query["recurse"])
    }
