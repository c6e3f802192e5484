"""Runs: wait for one (join, and the answer of ``/wait``), get, list, cancel (one or many),
delete. Creating them is ``app.api.run_creation``.

A cancel is recorded in Postgres first (``app.store.cancels``), then announced after its
COMMIT: published to the worker holding a running run, and the end of the pending runs it
ended to their joins and waits.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app, request, stream_with_context

from app import protocol_stream
from app.api.access import authorize
from app.api.common import Blueprint, dump_run, select, services
from app.api.errors import parse_uuid
from app.api.threads import check_thread, load_thread
from app.errors import Conflict, NotFound
from app.notify import publish_cancel, publish_run_done, result_key
from app.queue import send_execute_run
from app.runs import RunStatus
from app.schemas.runs import (
    BulkCancelQuerySchema,
    CancelQuerySchema,
    RunListQuerySchema,
    RunsCancelSchema,
)
from app.store import cancels as cancel_store
from app.store import runs as run_store
from app.streams import client_gone

logger = logging.getLogger(__name__)
blp = Blueprint("runs", __name__, description="Runs: executions of a graph")

# how often a join re-reads Postgres when no Redis notification arrives (seconds)
JOIN_FALLBACK_SECONDS = 5.0


def announce(cancelled: cancel_store.Cancelled, *, wake: bool = True) -> None:
    """After the COMMIT of a cancel: publish it to the workers of the running runs, announce the
    end of the pending runs that ended (joins and waits return), and (``wake``) wake the next
    run of their threads."""
    svc = services()
    for run in cancelled.stopping:
        publish_cancel(svc.redis, run["run_id"], cancelled.action)
    for run in cancelled.ended:
        publish_run_done(svc.redis, run["run_id"])
        protocol_stream.end_run(svc.redis, {**run, "status": "interrupted"})
    if wake:
        for thread_id in {run["thread_id"] for run in cancelled.ended}:
            _wake_next(thread_id)


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


# --- wait: answer a run's output once it ends --------------------------------------------

# a waiting answer sends a newline this often (seconds) so proxies and clients see a live
# connection (leading whitespace is ignored by JSON parsers), as the official server does
WAIT_HEARTBEAT_SECONDS = 5.0


def wait_response(row: dict, body: dict, final: Callable[[dict | None], Any] | None = None) -> Any:
    """Stream the run's join output (see ``join_output``) once it is terminal, with newline
    heartbeats meanwhile; ``final``, if given, makes the answer from the run's last row (None:
    deleted) instead. Status 200 is sent at once: a failed run answers
    ``{"__error__": {"error", "message"}}`` as the official server does. ``Location`` is the
    join URL a client reconnects to if the answer is cut off; ``on_disconnect=cancel`` cancels
    the run if the client goes away before the answer (noticed within a second).

    Waits on the run-done notification, reading Postgres again when it comes or every
    ``WAIT_HEARTBEAT_SECONDS`` (a lost notification)."""
    svc = services()
    run_id = row["run_id"]
    cancel_on_disconnect = body.get("on_disconnect") == "cancel"
    sock = request.environ.get("gunicorn.socket")

    def answer() -> Any:
        done = False
        event = svc.waiter.register(run_id)
        try:
            current = run_store.get(svc.db, run_id)
            read_at = beat_at = time.monotonic()
            while True:
                if current is None or RunStatus(current["status"]).terminal:
                    done = True
                    yield _compact(final(current) if final else _join_answer(run_id, current))
                    return
                notified = event.wait(1.0)
                event.clear()
                if client_gone(sock):
                    return
                now = time.monotonic()
                if now - beat_at >= WAIT_HEARTBEAT_SECONDS:
                    beat_at = now
                    yield "\n"
                if notified or now - read_at >= WAIT_HEARTBEAT_SECONDS:
                    read_at = now
                    current = run_store.get(svc.db, run_id)
        finally:
            svc.waiter.unregister(run_id, event)
            if not done and cancel_on_disconnect:
                _cancel_after_disconnect(run_id)

    path = f"/threads/{row['thread_id']}/runs/{row['run_id']}"
    return current_app.response_class(
        stream_with_context(answer()),
        mimetype="application/json",
        headers={"Location": f"{path}/join", "Content-Location": path},
    )


def _join_answer(run_id: uuid.UUID, row: dict | None) -> Any:
    """A join's answer: the run's output, or the kept result of a deleted temporary run."""
    if row is None:
        kept = _kept_result(run_id)
        return {} if kept is _MISSING else kept
    return row["output"]


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _cancel_after_disconnect(run_id: uuid.UUID) -> None:
    svc = services()
    try:
        row = run_store.get(svc.db, run_id)
        if row is None or RunStatus(row["status"]).terminal:
            return
        if cancel_store.cancel_pending(svc.db, run_id, row["thread_id"]) is not None:
            publish_run_done(svc.redis, run_id)
            _wake_next(row["thread_id"])
        elif cancel_store.request_cancel(svc.db, run_id, row["thread_id"], "interrupt"):
            publish_cancel(svc.redis, run_id, "interrupt")
    except Exception:  # noqa: BLE001 - runs while closing the response: log, never raise
        logger.exception("run %r: cancel on disconnect failed", str(run_id))


def _load_run(thread_id: str, run_id: str, auth_action: str = "read", **value: Any) -> dict:
    """The run, once ``threads.<auth_action>`` is authorized on its thread (``app.api.access``)."""
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    check_thread(tid, auth_action, run_id=rid, **value)
    row = run_store.get(services().db, rid, tid)
    if row is None:
        raise NotFound("Run not found")
    return row


@blp.route("/threads/<thread_id>/runs", methods=["GET"])
@blp.arguments(RunListQuerySchema, location="query")
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
    """The run's output once it ends. A run still going gets its 200 at once and a newline
    every ``WAIT_HEARTBEAT_SECONDS`` until the output (as ``wait``): a router that cuts silent
    connections (30 s on common PaaS) keeps the join open, and JSON parsers skip the newlines."""
    # not _load_run: a finished stateless run may be deleted already; join_output then answers
    # its kept result (or 404)
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    check_thread(tid, "read", run_id=rid)
    row = run_store.get(services().db, rid, tid)
    if row is None or RunStatus(row["status"]).terminal:
        return _jsonify(join_output(rid, tid))
    return wait_response(row, {})


def _jsonify(value: Any) -> Any:
    from flask import current_app

    return current_app.response_class(json.dumps(value), mimetype="application/json")


@blp.route("/threads/<thread_id>/runs/<run_id>/cancel", methods=["POST"])
@blp.arguments(CancelQuerySchema, location="query")
def cancel(query: dict, thread_id: str, run_id: str) -> Any:
    """Pending: ended at once (``interrupted``; ``action=rollback``: deleted with what an earlier
    attempt wrote). Running: recorded in Postgres, then published; the worker stops the run and
    records ``interrupted`` (``action=rollback``: deletes it and its checkpoints). A finished run
    is left as it is (202).

    ``wait``: answer 200 once the run is finished or deleted, with ``{}`` when the cancel ended it
    (as the official server, whose answer is the values the run streamed, none here) or the run's
    join output when it had ended otherwise."""
    svc = services()
    row = _load_run(thread_id, run_id, "update", action=query["action"])
    cancelled = cancel_store.cancel(
        svc.db, action=query["action"], thread_id=row["thread_id"], run_ids=[row["run_id"]]
    )
    announce(cancelled)
    if not query["wait"]:
        return "", 202
    # the answer streams newline keep-alives until the run ends, as join and wait do
    return wait_response(row, {}, _cancel_answer)


def _cancel_answer(final: dict | None) -> Any:
    """``cancel?wait=true``'s answer from the run's last row (None: deleted)."""
    if final is None or final["status"] == RunStatus.INTERRUPTED:
        return {}
    return final["output"]


def _wake_next(thread_id: uuid.UUID) -> None:
    svc = services()
    nxt = run_store.next_pending(svc.db, thread_id)
    if nxt is not None:
        send_execute_run(svc.actor, nxt["run_id"], nxt["version"], queue=nxt["queue"])


@blp.route("/threads/<thread_id>/runs/<run_id>", methods=["DELETE"])
def delete(thread_id: str, run_id: str) -> Any:
    svc = services()
    row = _load_run(thread_id, run_id, "delete")
    if not run_store.delete(svc.db, row["run_id"], row["thread_id"]):
        raise Conflict(f"Run {run_id} is running; cancel it before deleting it")
    if row["status"] == RunStatus.PENDING:
        publish_run_done(svc.redis, row["run_id"])
        _wake_next(row["thread_id"])
    return "", 204


@blp.route("/runs/cancel", methods=["POST"])
@blp.arguments(RunsCancelSchema)
@blp.arguments(BulkCancelQuerySchema, location="query")
def cancel_many(body: dict, query: dict) -> Any:
    """Cancel runs in bulk (``langgraph_sdk`` ``runs.cancel_many``): those of ``run_ids`` on
    ``thread_id``, or every run of ``status`` (``pending``, ``running`` or ``all`` of both), with
    ``action`` as a single cancel. 204; 404 when no pending or running run matched."""
    svc = services()
    value = {"thread_id": body.get("thread_id"), "action": query["action"]}
    auth_filter = authorize("threads", "update", value)
    if "status" in body:
        status = body["status"]
        statuses = ("pending", "running") if status == "all" else (status,)
        cancelled = cancel_store.cancel(
            svc.db, action=query["action"], statuses=statuses, thread_filter=auth_filter
        )
    else:
        cancelled = cancel_store.cancel(
            svc.db,
            action=query["action"],
            thread_id=body["thread_id"],
            run_ids=body["run_ids"],
            thread_filter=auth_filter,
        )
    announce(cancelled)
    if not cancelled.runs:
        raise NotFound("No matching runs to cancel: they are finished, deleted or do not exist")
    return "", 204
