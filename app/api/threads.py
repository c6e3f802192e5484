"""``/threads``: create (with a TTL), get, patch, delete, search (metadata, values, ids, status,
``extract``), count, copy, prune. The thread's state and history are in ``thread_state.py``."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

from flask import jsonify, request

from app.api.access import authorize
from app.api.common import Blueprint, dump_thread, iso, paginated, select, services
from app.api.errors import parse_uuid
from app.errors import Conflict, InvalidInput, NotFound
from app.schemas.threads import (
    THREAD_FIELDS,
    ThreadCountSchema,
    ThreadCreateSchema,
    ThreadGetQuerySchema,
    ThreadPatchSchema,
    ThreadPruneSchema,
    ThreadSearchSchema,
)
from app.store import threads as thread_store
from app.store.run_creation import NewRun

blp = Blueprint("threads", __name__, description="Threads: the state a run accumulates")

# ``extract`` of thread search (as the official server: langgraph_api/utils/extract.py)
EXTRACTABLE_COLUMNS = ("values", "metadata", "config", "interrupts")
MAX_EXTRACT_PATHS = 10
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH_SPLIT = re.compile(r"\.|\[")


def load_thread(thread_id: str | uuid.UUID, auth_action: str = "read", **value: Any) -> dict:
    """The thread row, once ``threads.<auth_action>`` is authorized on it (``value``: the action's
    fields beside ``thread_id``; ``app.api.access``).

    Raises:
        InvalidInput: bad UUID. NotFound: no such thread, or the auth filter excludes it.
        AuthError: the auth handler refused the action.
    """
    tid = thread_id if isinstance(thread_id, uuid.UUID) else parse_uuid(thread_id, "thread")
    auth_filter = authorize("threads", auth_action, {"thread_id": tid, **value})
    row = thread_store.get(services().db, tid, auth_filter)
    if row is None:
        raise NotFound(f"Thread with ID {tid} not found")
    return row


def check_existing_thread(thread_id: uuid.UUID, auth_action: str = "read") -> dict | None:
    """Authorize ``threads.<auth_action>`` on a thread that may not exist yet (a command may
    create it): returns the auth filter. An existing thread the filter excludes is refused.

    Raises:
        NotFound: the thread exists and the filter excludes it. AuthError: refused.
    """
    auth_filter = authorize("threads", auth_action, {"thread_id": thread_id})
    if auth_filter is not None:
        db = services().db
        if thread_store.get(db, thread_id, auth_filter) is None and thread_store.get(db, thread_id):
            raise NotFound(f"Thread with ID {thread_id} not found")
    return auth_filter


def check_thread(thread_id: uuid.UUID, auth_action: str, **value: Any) -> dict | None:
    """Authorize ``threads.<auth_action>`` on a thread that may no longer exist (a finished
    stateless run's): returns the auth filter. With a filter, the thread must exist and pass it.

    Raises:
        NotFound: the filter excludes the thread (or it is gone). AuthError: refused.
    """
    auth_filter = authorize("threads", auth_action, {"thread_id": thread_id, **value})
    if auth_filter is not None and thread_store.get(services().db, thread_id, auth_filter) is None:
        raise NotFound(f"Thread with ID {thread_id} not found")
    return auth_filter


def _ttl(body: dict) -> thread_store.Ttl | None:
    ttl = body.get("ttl")
    return thread_store.Ttl(minutes=ttl["ttl"], strategy=ttl["strategy"]) if ttl else None


def _default_ttl() -> thread_store.Ttl | None:
    """``langgraph.json`` ``checkpointer.ttl``: the TTL of a thread created without one
    (``default_ttl`` minutes, with its ``strategy``), as the official server applies it."""
    deployment = services().registry.deployment
    ttl = deployment.checkpointer_ttl if deployment is not None else None
    if ttl is None or ttl.default_ttl is None:
        return None
    return thread_store.Ttl(minutes=ttl.default_ttl, strategy=ttl.strategy)


def dump_thread_ttl(row: dict) -> dict[str, Any] | None:
    """The ``ttl`` of ``GET /threads/{id}?include=ttl``: ``{"strategy", "ttl_minutes",
    "expires_at"}``, or None when the thread has no TTL."""
    if row.get("ttl_strategy") is None:
        return None
    return {
        "strategy": row["ttl_strategy"],
        "ttl_minutes": row["ttl_minutes"],
        "expires_at": iso(row["expires_at"]),
    }


def with_default_ttl(new: NewRun) -> NewRun:
    """The run ``new`` with the default thread TTL for the thread that
    ``if_not_exists="create"`` may create (``checkpointer.ttl``)."""
    ttl = _default_ttl()
    if new.create_thread and ttl is not None:
        return dataclasses.replace(new, thread_ttl=ttl.params())
    return new


@blp.route("/threads", methods=["POST"])
@blp.arguments(ThreadCreateSchema)
def create(body: dict) -> Any:
    svc = services()
    thread_id = body.get("thread_id") or uuid.uuid4()
    value = {
        "thread_id": thread_id,
        "metadata": dict(body.get("metadata") or {}),
        "if_exists": body["if_exists"],
        "ttl": body.get("ttl"),
    }
    auth_filter = authorize("threads", "create", value)
    ttl = _ttl(body) or _default_ttl()
    row = thread_store.insert(svc.db, thread_id, value["metadata"], ttl=ttl)
    if row is None:
        if body["if_exists"] == "do_nothing":
            existing = thread_store.get(svc.db, thread_id, auth_filter)
            if existing is not None:
                return dump_thread(existing)
        raise Conflict(f"Thread {thread_id} already exists")
    return dump_thread(row)


@blp.route("/threads/<thread_id>", methods=["GET"])
@blp.arguments(ThreadGetQuerySchema, location="query")
def get(query: dict, thread_id: str) -> Any:
    row = load_thread(thread_id)
    thread = dump_thread(row)
    if "ttl" in [part.strip() for part in query.get("include", "").split(",")]:
        thread["ttl"] = dump_thread_ttl(row)
    return thread


@blp.route("/threads/<thread_id>", methods=["PATCH"])
@blp.arguments(ThreadPatchSchema)
def patch(body: dict, thread_id: str) -> Any:
    """Merge metadata, set the TTL (from now); ``Prefer: return=minimal`` answers 204."""
    tid = parse_uuid(thread_id, "thread")
    value = {"thread_id": tid, "metadata": dict(body["metadata"])}
    load_thread(tid, "update", metadata=value["metadata"])
    row = thread_store.update(services().db, tid, value["metadata"], ttl=_ttl(body))
    if row is None:
        raise NotFound(f"Thread with ID {tid} not found")
    if request.headers.get("Prefer") == "return=minimal":
        return "", 204
    return dump_thread(row)


@blp.route("/threads/<thread_id>", methods=["DELETE"])
def delete(thread_id: str) -> Any:
    svc = services()
    tid = parse_uuid(thread_id, "thread")
    load_thread(tid, "delete", run_id=None)
    if not thread_store.delete(svc.db, tid):
        raise NotFound(f"Thread with ID {tid} not found")
    return "", 204


def extract_paths(extract: dict[str, str]) -> dict[str, str]:
    """Check the ``extract`` of a thread search: at most 10 aliases, each an identifier that is
    not a thread field, each path rooted at values, metadata, config or interrupts.

    Raises:
        InvalidInput: the first rule broken.
    """
    if len(extract) > MAX_EXTRACT_PATHS:
        raise InvalidInput(f"Maximum of {MAX_EXTRACT_PATHS} extract paths allowed")
    reserved = sorted(set(extract) & set(THREAD_FIELDS))
    if reserved:
        raise InvalidInput(f"Extract keys cannot use reserved field names: {reserved}")
    for alias, path in extract.items():
        if not _ALIAS.match(alias):
            raise InvalidInput(
                f"Extract key {alias!r} must be a valid identifier (letters, digits, underscores)"
            )
        if path.split(".")[0].split("[")[0] not in EXTRACTABLE_COLUMNS:
            raise InvalidInput(
                f"Extract path {path!r} must start with one of: {', '.join(EXTRACTABLE_COLUMNS)}"
            )
    return extract


def extract_value(thread: dict[str, Any], path: str) -> Any:
    """The value at ``path`` (``values.messages[-1].content``) of a thread; None when the path
    does not resolve."""
    parts = _PATH_SPLIT.split(path)
    current: Any = thread.get(parts[0])
    for part in parts[1:]:
        if current is None:
            return None
        if part.endswith("]"):
            try:
                index = int(part[:-1])
            except ValueError:
                return None
            if not isinstance(current, list) or not -len(current) <= index < len(current):
                return None
            current = current[index]
        elif isinstance(current, dict):
            current = current.get(part)
        else:
            return None
    return current


@blp.route("/threads/search", methods=["POST"])
@blp.arguments(ThreadSearchSchema)
def search(body: dict) -> Any:
    extract = extract_paths(body["extract"]) if body.get("extract") else None
    auth_filter = authorize("threads", "search", _search_value(body))
    rows = thread_store.search(
        services().db,
        status=body.get("status"),
        metadata=body.get("metadata"),
        values=body.get("values"),
        ids=body.get("ids"),
        limit=body["limit"] + 1,
        offset=body["offset"],
        sort_by=body["sort_by"],
        sort_order=body["sort_order"],
        auth_filter=auth_filter,
    )
    out = []
    for row in rows:
        thread = dump_thread(row)
        item = select(thread, body.get("select"))
        if extract:
            item["extracted"] = {alias: extract_value(thread, p) for alias, p in extract.items()}
        out.append(item)
    return paginated(out, body["offset"], body["limit"])


@blp.route("/threads/count", methods=["POST"])
@blp.arguments(ThreadCountSchema)
def count(body: dict) -> Any:
    return jsonify(  # a bare int is not a valid Flask response
        thread_store.count(
            services().db,
            status=body.get("status"),
            metadata=body.get("metadata"),
            values=body.get("values"),
            auth_filter=authorize("threads", "search", _search_value(body)),
        )
    )


def _search_value(body: dict) -> dict[str, Any]:
    """The ``value`` of ``threads.search`` (``langgraph_sdk.auth.types.ThreadsSearch``)."""
    fields = ("metadata", "values", "status", "limit", "offset", "ids")
    return {
        "thread_id": None,
        **{name: body[name] for name in fields if body.get(name) is not None},
    }


@blp.route("/threads/<thread_id>/copy", methods=["POST"])
def copy(thread_id: str) -> Any:
    """A new thread with the metadata, values and checkpoints of this one (not its runs)."""
    tid = parse_uuid(thread_id, "thread")
    load_thread(tid, "read")
    row = thread_store.copy(services().db, tid)
    if row is None:
        raise NotFound(f"Thread with ID {tid} not found")
    return dump_thread(row)


@blp.route("/threads/prune", methods=["POST"])
@blp.arguments(ThreadPruneSchema)
def prune(body: dict) -> Any:
    """``delete``: delete the threads; ``keep_latest``: keep only their latest checkpoints.
    Unknown ids are skipped; answers ``{"pruned_count": n}``."""
    db = services().db
    auth_filter = authorize("threads", "delete", {"thread_id": None, "run_id": None})
    thread_ids = thread_store.visible_ids(db, body["thread_ids"], auth_filter)
    pruned = thread_store.prune(db, thread_ids, body["strategy"])
    return {"pruned_count": pruned}
