"""Streaming over SSE: ``…/runs/stream`` (create and stream), ``…/runs/{run_id}/stream`` (join a
run's stream, resumable with ``Last-Event-ID``) and ``GET /threads/{thread_id}/stream``.

Events come from the run's Redis Stream (``app/streams.py``), so any web instance serves any
run, and a client that reconnects to another instance resumes after the last id it saw. Every
event carries an ``id:``; a stream ends by closing, as the official server's does (no ``end``
event: ``langgraph-sdk`` then asks the run's status and reconnects to ``Location`` if the run
is still going). Each open stream holds one gunicorn thread (see bench/README.md, "Concurrent
streams per web process").

Semantics, as the official server has them:

- create-and-stream: every event of the run from its ``metadata`` on; the ``Location`` header is
  the join URL the SDK reconnects to.
- join without ``Last-Event-ID``: the events from now on (a finished run: an empty stream); with
  it: every event after that id (``-`` or ``0``: from the start), and if the buffer has expired
  meanwhile, the final ``values`` (or ``error``) from Postgres.
- ``on_disconnect=cancel`` (create) / ``cancel_on_disconnect=true`` (join): a client that goes
  away before the end cancels the run; by default the run goes on.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from flask import Response, request

from app import serde
from app.api.common import Blueprint, services
from app.api.errors import parse_uuid
from app.api.run_creation import create_run
from app.api.threads import check_thread, load_thread
from app.errors import InvalidInput, NotFound
from app.notify import publish_cancel, publish_run_done
from app.queue import send_execute_run
from app.runs import RunStatus
from app.schemas.runs import STREAM_MODES, JoinStreamQuerySchema, RunCreateSchema
from app.schemas.threads import ThreadStreamQuerySchema
from app.services import Services
from app.store import cancels as cancel_store
from app.store import runs as run_store
from app.streams import (
    END,
    client_gone,
    format_sse,
    last_entry,
    parse_event_id,
    read_stream,
    run_stream_key,
    streams_closing,
    thread_stream_key,
)

logger = logging.getLogger(__name__)
blp = Blueprint("streams", __name__, description="Server-sent event streams of runs")

# one XREAD waits this long (milliseconds) for events; between two waits the stream notices a
# client that went away or a process that is stopping
BLOCK_MS = 1000
# with no event for this long (seconds): read the run in Postgres, send a heartbeat comment
IDLE_CHECK_SECONDS = 4.0
KEEP_ALIVE = ": heartbeat\n\n"
THREAD_STREAM_MODES = ("run_modes", "lifecycle", "state_update")


def _sse_response(events: Iterator[str], location: str | None, content_location: str) -> Response:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if location:
        headers["Location"] = location
    headers["Content-Location"] = content_location
    return Response(events, mimetype="text/event-stream", headers=headers)


def _base_mode(event: str) -> str:
    """The stream mode an SSE event name belongs to (``values|child:1`` → ``values``,
    ``messages/partial`` → ``messages``)."""
    return event.split("|", 1)[0].split("/", 1)[0]


def _wanted(event: str, modes: set[str] | None) -> bool:
    if not modes or event in ("metadata", "error"):
        return True
    base = _base_mode(event)
    return base in modes or (base == "messages" and "messages-tuple" in modes)


def run_events(
    svc: Services,
    run_id: uuid.UUID,
    after: str,
    modes: set[str] | None = None,
    cancel_on_disconnect: bool = False,
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """SSE text of the run's events after entry id ``after`` until the run's end marker.

    Parameters:
        after: a Redis Stream entry id (``0-0``: from the start).
        modes: keep only these stream modes (``metadata`` and ``error`` always pass); None: all.
        cancel_on_disconnect: cancel the run if the client goes away before the end (noticed
            on ``sock`` within ``BLOCK_MS``, or when a write fails and the generator is closed).
        sock: the client's socket (gunicorn's ``environ["gunicorn.socket"]``), if known.

    After ``IDLE_CHECK_SECONDS`` without an event, the run is read from Postgres: a terminal run
    whose buffer never got its end marker (expired, or Redis lost it) ends with its final state
    from Postgres (``values`` with the output, or ``error``); a live run gets a heartbeat. The
    stream also ends, cleanly, when the process is stopping (``close_open_streams``).
    """
    key = run_stream_key(run_id)
    finished = False
    idle_since = time.monotonic()
    try:
        while True:
            entries = _read(svc, key, after)
            for entry_id, fields in entries:
                after = entry_id
                event = fields.get("event", "")
                if event == END:
                    finished = True
                    return
                if _wanted(event, modes):
                    yield format_sse(event, fields.get("data", "null"), entry_id)
            if streams_closing():
                finished = True  # not the client's doing: it reconnects to another instance
                return
            if client_gone(sock):
                return
            if entries:
                idle_since = time.monotonic()
                continue
            if time.monotonic() - idle_since < IDLE_CHECK_SECONDS:
                continue
            idle_since = time.monotonic()
            row = run_store.get(svc.db, run_id)
            if row is None or RunStatus(row["status"]).terminal:
                try:  # the end marker may have landed since the last read
                    if read_stream(svc.redis, key, after, None):
                        continue
                    ended = _has_end_marker(svc, key)
                except redis.RedisError:
                    ended = False
                finished = True
                if row is not None and not ended:
                    yield from _final_events(row)
                return
            yield KEEP_ALIVE
    finally:
        if not finished and cancel_on_disconnect:
            _cancel_on_disconnect(svc, run_id)


def _read(svc: Services, key: str, after: str) -> list[tuple[str, dict[str, str]]]:
    try:
        return read_stream(svc.redis, key, after, BLOCK_MS)
    except redis.RedisError as exc:
        logger.warning("stream %r: Redis error: %s", key, exc)
        time.sleep(BLOCK_MS / 1000)
        return []


def _has_end_marker(svc: Services, key: str) -> bool:
    last = last_entry(svc.redis, key)
    return last is not None and last[1].get("event") == END


def _final_events(row: dict) -> Iterator[str]:
    if row["status"] == RunStatus.SUCCESS:
        yield format_sse("values", serde.dumps(row["output"]))
    elif row["status"] in (RunStatus.ERROR, RunStatus.TIMEOUT) and row.get("error"):
        yield format_sse("error", serde.dumps(row["error"]))


def _cancel_on_disconnect(svc: Services, run_id: uuid.UUID) -> None:
    try:
        row = run_store.get(svc.db, run_id)
        if row is None or RunStatus(row["status"]).terminal:
            return
        logger.info("run %r: client disconnected, cancelling it", str(run_id))
        if cancel_store.cancel_pending(svc.db, run_id, row["thread_id"]) is not None:
            publish_run_done(svc.redis, run_id)
            nxt = run_store.next_pending(svc.db, row["thread_id"])  # the thread is free again
            if nxt is not None:
                send_execute_run(svc.actor, nxt["run_id"], nxt["version"], queue=nxt["queue"])
        elif cancel_store.request_cancel(svc.db, run_id, row["thread_id"], "interrupt"):
            publish_cancel(svc.redis, run_id, "interrupt")
    except Exception:  # noqa: BLE001 - runs in a closing generator: log, never raise
        logger.exception("run %r: cancel on disconnect failed", str(run_id))


def _client_socket() -> socket.socket | None:
    return request.environ.get("gunicorn.socket")


def _last_event_id() -> str | None:
    """The request's ``Last-Event-ID`` as an entry id, None when absent.

    Raises:
        InvalidInput: present but not an event id of this server.
    """
    raw = request.headers.get("Last-Event-ID") or None
    if raw is None:
        return None
    after = parse_event_id(raw)
    if after is None:
        raise InvalidInput("Invalid last-event-id: must be a valid Redis stream ID")
    return after


def _modes(value: Any) -> set[str] | None:
    if value is None:
        return None
    listed = [m for m in (value if isinstance(value, list) else [value]) if m]
    if not listed:
        return None
    bad = [m for m in listed if m not in STREAM_MODES]
    if bad:
        raise InvalidInput(f"unknown stream mode(s): {bad}")
    return set(listed)


def _create_and_stream(thread_id: uuid.UUID | None, body: dict) -> Response:
    svc = services()
    row = create_run(thread_id, body)
    path = f"/threads/{row['thread_id']}/runs/{row['run_id']}"
    events = run_events(
        svc,
        row["run_id"],
        "0-0",
        cancel_on_disconnect=body.get("on_disconnect") == "cancel",
        sock=_client_socket(),
    )
    return _sse_response(events, f"{path}/stream", path)


@blp.route("/threads/<thread_id>/runs/stream", methods=["POST"])
@blp.arguments(RunCreateSchema)
def stream_on_thread(body: dict, thread_id: str) -> Response:
    """Create a run on the thread and stream its events (SSE)."""
    return _create_and_stream(parse_uuid(thread_id, "thread"), body)


@blp.route("/runs/stream", methods=["POST"])
@blp.arguments(RunCreateSchema)
def stream_stateless(body: dict) -> Response:
    """Create a stateless run and stream its events (SSE)."""
    return _create_and_stream(None, body)


@blp.route("/threads/<thread_id>/runs/<run_id>/stream", methods=["GET"])
@blp.arguments(JoinStreamQuerySchema, location="query")
def join_stream(query: dict, thread_id: str, run_id: str) -> Response:
    """Join a run's event stream: from now on, or after ``Last-Event-ID``."""
    svc = services()
    tid = parse_uuid(thread_id, "thread")
    rid = parse_uuid(run_id, "run")
    check_thread(tid, "read", run_id=rid)
    after = _last_event_id()
    modes = _modes(query.get("stream_mode"))
    key = run_stream_key(rid)
    row = run_store.get(svc.db, rid, tid)
    if row is None and not svc.redis.exists(key):
        raise NotFound("Run not found")
    path = f"/threads/{tid}/runs/{rid}"
    if after is None:
        if row is None or RunStatus(row["status"]).terminal:
            return _sse_response(iter(()), f"{path}/stream", path)
        last = last_entry(svc.redis, key)
        if last is not None and last[1].get("event") == END:
            return _sse_response(iter(()), f"{path}/stream", path)
        after = last[0] if last is not None else "0-0"
    events = run_events(
        svc, rid, after, modes, query["cancel_on_disconnect"], sock=_client_socket()
    )
    return _sse_response(events, f"{path}/stream", path)


def _thread_event_wanted(event: str, modes: set[str]) -> bool:
    if "run_modes" in modes and event != "state_update":
        return True
    if "state_update" in modes and event == "state_update":
        return True
    return "lifecycle" in modes and event == "metadata"


def thread_events(
    svc: Services,
    thread_id: uuid.UUID,
    after: str,
    modes: set[str],
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Events of every run of the thread (and its state updates) after entry id ``after``, as
    they happen, until the client goes away (or the process stops). The end of a run is a
    ``metadata`` event ``{"status": "run_done", "run_id": …}``.

    Parameters:
        modes: ``run_modes`` (every run event), ``lifecycle`` (only ``metadata``: runs starting
            and ending), ``state_update`` (only ``state_update`` events).
        sock: the client's socket, to notice a client that went away (see ``run_events``).
    """
    key = thread_stream_key(thread_id)
    idle_since = time.monotonic()
    while True:
        entries = _read(svc, key, after)
        for entry_id, fields in entries:
            after = entry_id
            event, data = fields.get("event", ""), fields.get("data", "null")
            if event == END:
                event = "metadata"
                data = serde.dumps({"status": "run_done", "run_id": fields.get("run_id")})
            if _thread_event_wanted(event, modes):
                yield format_sse(event, data, entry_id)
        if streams_closing() or client_gone(sock):
            return
        if entries:
            idle_since = time.monotonic()
            continue
        if time.monotonic() - idle_since >= IDLE_CHECK_SECONDS:
            idle_since = time.monotonic()
            yield KEEP_ALIVE


def _thread_modes(query: dict) -> set[str]:
    """``stream_mode`` (repeated, as langgraph-sdk sends it) and ``stream_modes`` (one value,
    comma-separated, as the official server reads it); default ``run_modes``."""
    listed = [m for m in query.get("stream_mode") or [] if m]
    for value in query.get("stream_modes") or []:
        listed += [m.strip() for m in value.split(",") if m.strip()]
    bad = [m for m in listed if m not in THREAD_STREAM_MODES]
    if bad:
        raise InvalidInput(f"Invalid stream mode: {', '.join(bad)}")
    return set(listed) or {"run_modes"}


@blp.route("/threads/<thread_id>/stream", methods=["GET"])
@blp.arguments(ThreadStreamQuerySchema, location="query")
def stream_thread(query: dict, thread_id: str) -> Response:
    """Stream the events of every run of the thread, from now on or after ``Last-Event-ID``."""
    svc = services()
    row = load_thread(thread_id)
    modes = _thread_modes(query)
    after = _last_event_id()
    key = thread_stream_key(row["thread_id"])
    if after is None:
        last = last_entry(svc.redis, key)
        after = last[0] if last is not None else "0-0"
    events = thread_events(svc, row["thread_id"], after, modes, sock=_client_socket())
    return _sse_response(events, None, f"/threads/{row['thread_id']}")
