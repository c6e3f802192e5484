"""Runs: create (on a thread, or stateless), wait, get, list, join, cancel, delete.

Creating a run is one INSERT (the run is durable once it answers), then the wake-up message is
sent after COMMIT; if Redis is down the answer is still 200 and the sweeper sends it later.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from app.api import schemas
from app.api.common import Blueprint, dump_run, resolve_assistant, select, services
from app.api.errors import parse_uuid
from app.api.threads import load_thread
from app.errors import Conflict, NotFound
from app.notify import publish_cancel, publish_run_done, result_key
from app.run_requests import build_run
from app.runs import RunStatus
from app.store import runs as run_store
from workers.broker import send_execute_run

blp = Blueprint("runs", __name__, description="Runs: executions of a graph")

# how often a join re-reads Postgres when no Redis notification arrives (seconds)
JOIN_FALLBACK_SECONDS = 5.0


def create_run(thread_id: uuid.UUID | None, body: dict) -> dict:
    """Insert the run ``body`` (a ``RunCreateSchema`` load) asks for, then send its message.

    ``thread_id`` None = a stateless run on a new temporary thread.

    Raises:
        NotFound: unknown assistant or thread. InvalidInput: bad combination of fields.
        Conflict: multitask_strategy "reject" on a busy thread.
    """
    svc = services()
    assistant = resolve_assistant(body["assistant_id"])
    row = run_store.insert(svc.db, **build_run(assistant, body, thread_id))
    send_execute_run(svc.actor, row["run_id"], row["version"])
    return row


def _location(row: dict) -> dict[str, str]:
    return {
        "Location": f"/threads/{row['thread_id']}/runs/{row['run_id']}",
        "Content-Location": f"/threads/{row['thread_id']}/runs/{row['run_id']}",
    }


@blp.route("/threads/<thread_id>/runs", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def create_on_thread(body: dict, thread_id: str) -> Any:
    row = create_run(parse_uuid(thread_id, "thread"), body)
    return dump_run(row), 200, _location(row)


@blp.route("/runs", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def create_stateless(body: dict) -> Any:
    row = create_run(None, body)
    return dump_run(row), 200, _location(row)


def join_output(run_id: uuid.UUID, thread_id: uuid.UUID | None) -> Any:
    """Block until the run is terminal; return what ``join`` answers (its final values, or
    ``{"__error__": …}``). Waits on the Redis notification, re-reading Postgres every
    ``JOIN_FALLBACK_SECONDS`` in case a notification was lost.

    Raises:
        NotFound: the run does not exist (and no recent result of a deleted temporary run).
    """
    svc = services()
    event = svc.waiter.register(run_id)
    try:
        while True:
            row = run_store.get(svc.db, run_id, thread_id)
            if row is None:
                kept = _kept_result(run_id)
                if kept is not _MISSING:
                    return kept
                raise NotFound(f"Run {run_id} not found")
            if RunStatus(row["status"]).terminal:
                return row["output"]
            event.wait(JOIN_FALLBACK_SECONDS)
            event.clear()
    finally:
        svc.waiter.unregister(run_id, event)


_MISSING = object()


def _kept_result(run_id: uuid.UUID) -> Any:
    try:
        raw = services().redis.get(result_key(run_id))
    except Exception:  # noqa: BLE001 - Redis down: the run is simply not found
        return _MISSING
    return _MISSING if raw is None else json.loads(raw)


@blp.route("/threads/<thread_id>/runs/wait", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def wait_on_thread(body: dict, thread_id: str) -> Any:
    row = create_run(parse_uuid(thread_id, "thread"), body)
    return join_output(row["run_id"], None), 200, _location(row)


@blp.route("/runs/wait", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def wait_stateless(body: dict) -> Any:
    row = create_run(None, body)
    return join_output(row["run_id"], None), 200, _location(row)


def _load_run(thread_id: str, run_id: str) -> dict:
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    row = run_store.get(services().db, rid, tid)
    if row is None:
        raise NotFound("Run not found")
    return row


@blp.route("/threads/<thread_id>/runs", methods=["GET"])
@blp.arguments(schemas.RunListQuerySchema, location="query")
def list_runs(query: dict, thread_id: str) -> Any:
    thread = load_thread(thread_id)
    rows = run_store.list_for_thread(
        services().db,
        thread["thread_id"],
        status=query.get("status"),
        limit=query["limit"],
        offset=query["offset"],
    )
    return [select(dump_run(r), query.get("select")) for r in rows]


@blp.route("/threads/<thread_id>/runs/<run_id>", methods=["GET"])
def get(thread_id: str, run_id: str) -> Any:
    return dump_run(_load_run(thread_id, run_id))


@blp.route("/threads/<thread_id>/runs/<run_id>/join", methods=["GET"])
def join(thread_id: str, run_id: str) -> Any:
    # not _load_run: a finished stateless run may be deleted already; join_output then answers
    # its kept result (or 404)
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    return _jsonify(join_output(rid, tid))


def _jsonify(value: Any) -> Any:
    from flask import current_app

    return current_app.response_class(json.dumps(value), mimetype="application/json")


@blp.route("/threads/<thread_id>/runs/<run_id>/cancel", methods=["POST"])
@blp.arguments(schemas.CancelQuerySchema, location="query")
def cancel(query: dict, thread_id: str, run_id: str) -> Any:
    """Pending: interrupted at once. Running: recorded in Postgres, then published; the worker
    stops the run and records ``interrupted`` (``action=rollback``: deletes it instead)."""
    svc = services()
    row = _load_run(thread_id, run_id)
    action = query["action"]
    cancelled = run_store.cancel_pending(svc.db, row["run_id"], row["thread_id"])
    if cancelled is not None:
        if action == "rollback":
            run_store.delete(svc.db, row["run_id"], row["thread_id"])
        publish_run_done(svc.redis, row["run_id"])
        _wake_next(row["thread_id"])
    elif run_store.request_cancel(svc.db, row["run_id"], row["thread_id"], action) is not None:
        publish_cancel(svc.redis, row["run_id"], action)
    if query["wait"]:
        join_output(row["run_id"], None)
        return _jsonify(None)
    return "", 202


def _wake_next(thread_id: uuid.UUID) -> None:
    svc = services()
    nxt = run_store.next_pending(svc.db, thread_id)
    if nxt is not None:
        send_execute_run(svc.actor, nxt["run_id"], nxt["version"])


@blp.route("/threads/<thread_id>/runs/<run_id>", methods=["DELETE"])
def delete(thread_id: str, run_id: str) -> Any:
    svc = services()
    row = _load_run(thread_id, run_id)
    if not run_store.delete(svc.db, row["run_id"], row["thread_id"]):
        raise Conflict(f"Run {run_id} is running; cancel it before deleting it")
    if row["status"] == RunStatus.PENDING:
        publish_run_done(svc.redis, row["run_id"])
        _wake_next(row["thread_id"])
    return "", 204
