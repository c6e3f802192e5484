"""Streaming over SSE: ``…/runs/stream`` (create and stream), ``…/runs/{run_id}/stream`` (join a
run's stream, resumable with ``Last-Event-ID``) and ``GET /threads/{thread_id}/stream``.

Events come from the run's Redis Stream (``app/streams.py``), so any web instance serves any
run, and a client that reconnects to another instance resumes after the last id it saw. Each
stream holds one gunicorn thread while it is open (see README, "Streaming and concurrency").
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from flask import Response, request

from app.api import schemas
from app.api.common import Blueprint, services
from app.api.errors import parse_uuid
from app.api.runs import create_run
from app.api.threads import load_thread
from app.errors import InvalidInput, NotFound
from app.notify import publish_cancel
from app.runs import RunStatus
from app.services import Services
from app.store import runs as run_store
from app.streams import (
    END,
    format_sse,
    read_stream,
    run_stream_key,
    thread_stream_key,
    valid_event_id,
)

logger = logging.getLogger(__name__)
blp = Blueprint("streams", __name__, description="Server-sent event streams of runs")

# how long one XREAD blocks before the stream checks the run in Postgres and sends a keep-alive
BLOCK_MS = 4000
THREAD_STREAM_MODES = ("run_modes", "lifecycle", "state_update")


def _sse_response(
    events: Iterator[str], location: str | None, content_location: str | None
) -> Response:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if location:
        headers["Location"] = location
    if content_location:
        headers["Content-Location"] = content_location
    return Response(events, mimetype="text/event-stream", headers=headers)


def _base_mode(event: str) -> str:
    name = event.split("|", 1)[0]
    return "messages-tuple" if name == "messages" else name.split("/", 1)[0]


def run_events(
    svc: Services,
    run_id: uuid.UUID,
    after: str,
    modes: set[str] | None,
    cancel_on_disconnect: bool,
) -> Iterator[str]:
    """SSE text of the run's events after entry id ``after`` until the run's end marker.

    If the buffer has expired (or Redis lost it), the final state comes from Postgres: a
    ``values`` event with the output, or an ``error`` event.
    """
    key = run_stream_key(run_id)
    finished = False
    try:
        while True:
            try:
                entries = read_stream(svc.redis, key, after, BLOCK_MS)
            except redis.RedisError as exc:
                logger.warning("stream of run %r: Redis error: %s", str(run_id), exc)
                entries = []
            for entry_id, fields in entries:
                after = entry_id
                event = fields.get("event", "")
                if event == END:
                    finished = True
                    return
                if modes and event not in ("metadata", "error") and _base_mode(event) not in modes:
                    continue
                yield format_sse(event, fields.get("data", "null"), entry_id)
            if entries:
                continue
            row = run_store.get(svc.db, run_id)
            if row is None or RunStatus(row["status"]).terminal:
                # the end marker may have landed since the read; else the buffer is gone
                try:
                    tail = read_stream(svc.redis, key, after, 0) if svc.redis.exists(key) else []
                except redis.RedisError:
                    tail = []
                if tail:
                    continue
                finished = True
                if row is not None:
                    yield from _final_events(row)
                return
            yield ": keep-alive\n\n"
    finally:
        if not finished and cancel_on_disconnect:
            _cancel_on_disconnect(svc, run_id)


def _final_events(row: dict) -> Iterator[str]:
    if row["status"] == RunStatus.SUCCESS:
        yield format_sse("values", json.dumps(row["output"]))
    elif row.get("error"):
        yield format_sse("error", json.dumps(row["error"]))


def _cancel_on_disconnect(svc: Services, run_id: uuid.UUID) -> None:
    row = run_store.get(svc.db, run_id)
    if row is None or RunStatus(row["status"]).terminal:
        return
    logger.info("run %r: client disconnected, cancelling (on_disconnect=cancel)", str(run_id))
    if run_store.cancel_pending(svc.db, run_id, row["thread_id"]) is None:
        if run_store.request_cancel(svc.db, run_id, row["thread_id"], "interrupt"):
            publish_cancel(svc.redis, run_id, "interrupt")


def _after_id() -> str:
    last = request.headers.get("Last-Event-ID")
    if last is None or last == "":
        return "0-0"
    if not valid_event_id(last):
        raise InvalidInput("Last-Event-ID is not an event id of this server")
    return last


def _modes(value: Any) -> set[str] | None:
    if value is None:
        return None
    listed = [m for m in (value if isinstance(value, list) else [value]) if m]
    if not listed:
        return None
    bad = [m for m in listed if m not in schemas.STREAM_MODES]
    if bad:
        raise InvalidInput(f"unknown stream mode(s): {bad}")
    return set(listed)


def _create_and_stream(thread_id: uuid.UUID | None, body: dict) -> Response:
    svc = services()
    row = create_run(thread_id, body)
    path = f"/threads/{row['thread_id']}/runs/{row['run_id']}"
    events = run_events(svc, row["run_id"], "0-0", None, body.get("on_disconnect") == "cancel")
    return _sse_response(events, f"{path}/stream", path)


@blp.route("/threads/<thread_id>/runs/stream", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def stream_on_thread(body: dict, thread_id: str) -> Response:
    return _create_and_stream(parse_uuid(thread_id, "thread"), body)


@blp.route("/runs/stream", methods=["POST"])
@blp.arguments(schemas.RunCreateSchema)
def stream_stateless(body: dict) -> Response:
    return _create_and_stream(None, body)


@blp.route("/threads/<thread_id>/runs/<run_id>/stream", methods=["GET"])
@blp.arguments(schemas.JoinStreamQuerySchema, location="query")
def join_stream(query: dict, thread_id: str, run_id: str) -> Response:
    svc = services()
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    after = _after_id()
    if run_store.get(svc.db, rid, tid) is None and not svc.redis.exists(run_stream_key(rid)):
        raise NotFound("Run not found")
    modes = _modes(query.get("stream_mode"))
    events = run_events(svc, rid, after, modes, query["cancel_on_disconnect"])
    return _sse_response(events, None, f"/threads/{tid}/runs/{rid}")


def thread_events(svc: Services, thread_id: uuid.UUID, after: str, mode: str) -> Iterator[str]:
    """Events of every run of the thread, as they happen, until the client goes away."""
    key = thread_stream_key(thread_id)
    while True:
        try:
            entries = read_stream(svc.redis, key, after, BLOCK_MS)
        except redis.RedisError as exc:
            logger.warning("stream of thread %r: Redis error: %s", str(thread_id), exc)
            entries = []
        for entry_id, fields in entries:
            after = entry_id
            event, data = fields.get("event", ""), fields.get("data", "null")
            run_id = fields.get("run_id")
            if event == END:
                done = {"run_id": run_id, **json.loads(data)}
                yield format_sse("run_done", json.dumps(done), entry_id)
            elif mode == "lifecycle" and event != "metadata":
                continue
            elif mode == "state_update" and event != "values":
                continue
            else:
                yield format_sse(event, data, entry_id)
        if not entries:
            yield ": keep-alive\n\n"


@blp.route("/threads/<thread_id>/stream", methods=["GET"])
@blp.arguments(schemas.ThreadStreamQuerySchema, location="query")
def stream_thread(query: dict, thread_id: str) -> Response:
    svc = services()
    row = load_thread(thread_id)
    last = request.headers.get("Last-Event-ID")
    if last and not valid_event_id(last):
        raise InvalidInput("Last-Event-ID is not an event id of this server")
    events = thread_events(svc, row["thread_id"], last or "$", query["stream_mode"])
    return _sse_response(events, None, None)
