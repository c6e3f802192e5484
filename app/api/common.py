"""Helpers the blueprints share: the services of this process, row → JSON, lookups."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import flask_smorest
from flask import current_app, g
from webargs import core
from webargs.flaskparser import FlaskParser

from app.api.limits import check_json_depth, too_deep
from app.errors import InvalidInput, NotFound
from app.services import Services
from app.store import assistants as assistant_store


class RequestParser(FlaskParser):
    """webargs' Flask parser, except that: a request body is read as JSON whatever its
    Content-Type (as the official server reads it: a body is never silently ignored); a body
    nested too deeply for the JSON decoder is invalid JSON (422, not a 500); unknown query
    parameters are refused like unknown body fields (the schemas' ``RAISE``); a body nested
    deeper than ``CALLBOARD_MAX_JSON_DEPTH`` is a 422 (``app.api.limits``). The body it parsed is
    kept for the request (``request_json``): it is parsed once."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req: Any) -> Any:
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            value = core.parse_json(data)
        except RecursionError:
            raise too_deep(services().settings.max_json_depth) from None
        g.request_json = check_json_depth(value)
        return g.request_json


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint reading its arguments with ``RequestParser``."""

    ARGUMENTS_PARSER = RequestParser()


def request_json() -> Any:
    """The JSON body of this request as the client sent it (before any schema's defaults), as
    ``RequestParser`` parsed it for the route's arguments; None for an empty body."""
    return g.get("request_json")


def services() -> Services:
    return current_app.extensions["callboard"]


def iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def dump_assistant(row: dict) -> dict[str, Any]:
    return {
        "assistant_id": str(row["assistant_id"]),
        "graph_id": row["graph_id"],
        "config": row["config"],
        "context": row["context"],
        "metadata": row["metadata"],
        "name": row["name"],
        "description": row["description"],
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row.get("updated_at") or row["created_at"]),
    }


def dump_thread(row: dict) -> dict[str, Any]:
    return {
        "thread_id": str(row["thread_id"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "state_updated_at": iso(row["state_updated_at"]),
        "metadata": row["metadata"],
        "status": row["status"],
        "config": row["config"],
        "values": row["values"],
        "error": row["error"],
        "interrupts": row.get("interrupts") or {},
    }


def dump_run(row: dict) -> dict[str, Any]:
    return {
        "run_id": str(row["run_id"]),
        "thread_id": str(row["thread_id"]),
        "assistant_id": str(row["assistant_id"]),
        "metadata": row["metadata"],
        "status": row["status"],
        "kwargs": row["kwargs"],
        "multitask_strategy": row["multitask_strategy"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "attempt": row["attempt"],
    }


def select(item: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Keep only ``fields`` (the ``select`` of search bodies); unknown names are a 422."""
    if not fields:
        return item
    unknown = [f for f in fields if f not in item]
    if unknown:
        raise InvalidInput(f"cannot select unknown field(s): {unknown}")
    return {f: item[f] for f in fields}


def resolve_assistant(value: str, auth_action: str | None = None, **fields: Any) -> dict:
    """An assistant by UUID, or the default assistant of a graph by graph id; with ``auth_action``,
    once ``assistants.<auth_action>`` is authorized on it (``fields``: the action's value beside
    ``assistant_id``; ``app.api.access``). Runs resolve theirs with no action: a run is
    authorized as an action on its thread.

    Raises:
        NotFound: a UUID with no assistant, or one the auth filter excludes.
        InvalidInput: neither a UUID nor a registered graph id.
        AuthError: the auth handler refused the action.
    """
    from app.api.access import authorize

    svc = services()
    try:
        assistant_id = uuid.UUID(value)
    except ValueError:
        if value not in svc.registry:
            raise InvalidInput(
                f"Invalid assistant: {value!r}. Must be either a valid assistant UUID or one of "
                f"the registered graphs: {', '.join(svc.registry.ids)}"
            ) from None
        assistant_id = assistant_store.default_assistant_id(value)
    auth_filter = None
    if auth_action is not None:
        auth_filter = authorize("assistants", auth_action, {"assistant_id": assistant_id, **fields})
    row = assistant_store.get(svc.db, assistant_id, auth_filter)
    if row is None:
        raise NotFound(f"Assistant {value!r} not found")
    return row


def paginated(items: list[Any], offset: int, limit: int) -> tuple[list[Any], int, dict]:
    """A search answer with the official server's pagination headers. ``items`` is what the
    store returned for ``limit + 1`` rows from ``offset``: a row past ``limit`` means there is
    a next page, and then ``X-Pagination-Next`` is its offset and ``X-Pagination-Total`` one
    more (the official server does not count the rest); otherwise the total is
    ``offset + len(items)`` (langgraph-api's ``get_pagination_headers``)."""
    if len(items) > limit:
        following = offset + limit
        headers = {"X-Pagination-Total": str(following + 1), "X-Pagination-Next": str(following)}
        return items[:limit], 200, headers
    return items, 200, {"X-Pagination-Total": str(offset + len(items))}
