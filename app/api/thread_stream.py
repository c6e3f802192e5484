"""Transports of the thread-streaming protocol: ``POST /threads/{thread_id}/commands`` (JSON in,
JSON out), ``POST /threads/{thread_id}/stream/events`` (SSE) and the WebSocket at
``/threads/{thread_id}/stream/events``, as the official server serves them
(``langgraph_api/api/event_streaming.py``) and ``langgraph_sdk.stream.transport`` calls them.

Events come from the thread's protocol stream in Redis (``app.protocol_stream``), written by the
worker, so any web instance serves any subscriber. A subscription (``EventStreamRequest``:
``channels``, ``namespaces``, ``depth``, ``since``) gets the events it matches, with the SDK's
own matching (``langgraph_sdk.stream.subscription.matches_subscription``): those with ``seq >
since``, or without ``since`` those of the thread's latest protocol run from its start. Each SSE
message is ``event: <method>``, ``data: <event JSON>``, ``id: <seq>``; a comment line is sent
every ``IDLE_CHECK_SECONDS`` without events. The stream lasts until the client goes away or
the process is stopping (the SDK then reconnects elsewhere with ``since``).

WebSocket (flask-sock, on simple-websocket): every inbound text frame is a command;
``subscription.subscribe`` / ``unsubscribe`` / ``reconnect`` manage the connection's
subscriptions (``app/api/thread_subscriptions.py``: a later subscription first gets the events
it missed), other commands are answered as on ``/commands``; events matching any subscription
are sent as text frames, once each. A connection holds one gunicorn thread for its lifetime,
like an SSE stream: ``WEB_THREADS`` bounds a process's open streams and sockets together.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from flask import Response, request
from flask_sock import Sock
from langgraph_sdk.stream.subscription import matches_subscription

from app import protocol_stream, serde
from app.api import thread_commands
from app.api.common import Blueprint, services
from app.api.errors import parse_uuid
from app.api.thread_commands import ProtocolError
from app.api.thread_subscriptions import Subscriptions
from app.api.threads import check_existing_thread
from app.errors import NotFound
from app.services import Services
from app.streams import client_gone, streams_closing

logger = logging.getLogger(__name__)

blp = Blueprint(
    "thread_stream", __name__, description="The thread-streaming protocol (commands, SSE)"
)
sock = Sock()
POLICY_VIOLATION = 1008  # WebSocket close code (RFC 6455 §7.4.1)

BLOCK_MS = 1000  # one XREAD waits this long for events (milliseconds)
IDLE_CHECK_SECONDS = 4.0  # a keep-alive comment after this long without events (seconds)
WS_POLL_SECONDS = 0.05  # how long a WebSocket waits for a command between two reads


def _json(body: Any, status: int = 200) -> Response:
    return Response(serde.dumps(body), status=status, mimetype="application/json")


def _body() -> Any:
    try:
        return json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError):
        return None


@blp.route("/threads/<thread_id>/commands", methods=["POST"])
def command(thread_id: str) -> Response:
    """One protocol command on the thread (``run.start``, ``input.respond``, ...)."""
    tid = parse_uuid(thread_id, "thread")
    check_existing_thread(tid)
    payload = _body()
    refused = thread_commands.check_envelope(payload)
    if refused is not None:
        return _json(refused, 400)
    return _json(thread_commands.handle(tid, payload))


@blp.route("/threads/<thread_id>/stream/events", methods=["POST"])
def stream_events(thread_id: str) -> Response:
    """SSE of the thread's protocol events matching the subscription in the body."""
    # a thread that does not exist yet is no error: the SDK subscribes before the run.start
    # that creates it (the official server answers the same without custom auth); another
    # user's thread is a 404
    tid = parse_uuid(thread_id, "thread")
    check_existing_thread(tid)
    try:
        params = thread_commands.subscription_params(_body())
    except ProtocolError as exc:
        return _json({"detail": str(exc)}, 400)
    svc = services()
    after_seq = params.get("since")
    if after_seq is None:
        after_seq = protocol_stream.start_seq(svc.redis, tid)
    subscriptions = [(params, after_seq)]
    sock_ = request.environ.get("gunicorn.socket")
    events = (
        f"event: {event['method']}\ndata: {serde.dumps(event)}\nid: {event['seq']}\n\n"
        if event is not None
        else ": heartbeat\n\n"
        for event in _matching_events(svc, tid, subscriptions, lambda: client_gone(sock_))
    )
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Response(events, mimetype="text/event-stream", headers=headers)


def _matching_events(
    svc: Services,
    thread_id: uuid.UUID,
    subscriptions: list[tuple[dict[str, Any], int]],
    stop: Any,
    poll: Any = None,
    cursor: dict[str, str] | None = None,
) -> Iterator[dict[str, Any] | None]:
    """The thread's events matching any of ``subscriptions`` (``(params, after_seq)``; the list
    may change while this runs), each once, in seq order; None after ``IDLE_CHECK_SECONDS``
    without events (a keep-alive). Ends when ``stop()`` or the process is stopping.
    ``poll()`` is called between reads (the WebSocket reads its commands there); ``cursor``
    (``{"after": <entry id>}``) is kept at the last entry read, for ``Subscriptions``."""
    cursor = cursor if cursor is not None else {"after": "0-0"}
    idle_since = time.monotonic()
    block_ms = BLOCK_MS if poll is None else int(WS_POLL_SECONDS * 1000)
    while True:
        try:
            entries = protocol_stream.read(svc.redis, thread_id, cursor["after"], block_ms)
        except redis.RedisError as exc:
            logger.warning("thread %s: protocol stream unreadable: %s", thread_id, exc)
            entries = []
            time.sleep(block_ms / 1000)
        for entry_id, event in entries:
            cursor["after"] = entry_id
            if any(
                event["seq"] > after_seq and matches_subscription(event, params)
                for params, after_seq in list(subscriptions)
            ):
                yield event
        if streams_closing() or stop():
            return
        if poll is not None:
            poll()
        if entries:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= IDLE_CHECK_SECONDS:
            idle_since = time.monotonic()
            yield None


@sock.route("/threads/<thread_id>/stream/events")
def stream_events_ws(ws: Any, thread_id: str) -> None:
    """The WebSocket transport: commands in, answers and matching events out."""
    tid = parse_uuid(thread_id, "thread")
    try:
        check_existing_thread(tid)
    except NotFound as exc:  # another user's thread: as if it did not exist
        ws.close(reason=POLICY_VIOLATION, message=str(exc))
        return
    svc = services()
    state = {"closed": False}
    cursor = {"after": "0-0"}

    def send(message: dict[str, Any]) -> None:
        ws.send(serde.dumps(message))

    subscriptions = Subscriptions(svc, tid, send, cursor)

    def on_command(raw: Any) -> None:
        try:
            payload = json.loads(raw)
        except (TypeError, ValueError):
            send(
                thread_commands.error(
                    None, "invalid_argument", "Protocol commands must be valid JSON."
                )
            )
            return
        refused = thread_commands.check_envelope(payload)
        if refused is not None:
            send(refused)
        elif not subscriptions.on_command(payload):
            send(thread_commands.handle(tid, payload))

    def poll() -> None:
        while not state["closed"]:
            try:
                raw = ws.receive(timeout=0)
            except Exception:  # noqa: BLE001 - the peer went away: ConnectionClosed and kin
                state["closed"] = True
                return
            if raw is None:
                return
            on_command(raw)

    # the first command usually is the subscribe: read it before the first XREAD
    raw = ws.receive(timeout=10)
    if raw is not None:
        on_command(raw)
    for event in _matching_events(
        svc, tid, subscriptions.active, lambda: state["closed"] or not ws.connected, poll, cursor
    ):
        if event is not None:
            send(event)
