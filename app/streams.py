"""Run event streams: the worker appends, any web process serves them as SSE.

Redis keys (see also ``app/notify.py``):

    callboard:stream:run:<run_id>        Redis Stream, one entry per event of the run
    callboard:stream:thread:<thread_id>  Redis Stream, the events of every run of the thread
                                         plus lifecycle entries (for ``GET /threads/{id}/stream``)

An entry has the fields ``event`` (the SSE event name: ``metadata``, ``values``, ``updates``,
``messages``, ``custom``, ``tasks``, ``checkpoints``, ``debug``, ``events``, ``error``; with
subgraphs ``values|<ns>``), ``data`` (JSON text) and, on thread streams, ``run_id``. Its entry id
is the SSE ``id:``, so a client resumes with ``Last-Event-ID``. The internal event ``__end__``
is appended after the run's final status is committed: readers stop there, and a client whose
stream closes finds the run terminal (``langgraph-sdk`` reconnects otherwise). Keys expire
``STREAM_TTL_SECONDS`` after the end; readers then fall back to Postgres.

The thread stream also carries ``state_update`` entries (``publish_state_update``: a client
changed the thread's state outside a run), as the official server's thread stream does.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import uuid
from typing import Any

import redis
import redis.asyncio

from app import serde

logger = logging.getLogger(__name__)

END = "__end__"
STREAM_TTL_SECONDS = 600  # how long a finished run's events stay readable
LIVE_TTL_SECONDS = 86_400  # safety net for a stream whose run never ends
MAXLEN = 20_000  # events kept per stream (approximate trim)


_closing = threading.Event()


def close_open_streams() -> None:
    """Ask every SSE stream this process serves to end at its next idle check (at most
    ``app.api.streams.BLOCK_MS`` later): called when the web process is told to stop, so that
    clients reconnect to another instance (with ``Last-Event-ID``) instead of being cut off at
    the end of gunicorn's graceful timeout."""
    _closing.set()


def streams_closing() -> bool:
    """Whether ``close_open_streams`` was called in this process."""
    return _closing.is_set()


def client_gone(sock: socket.socket | None) -> bool:
    """Whether the peer of ``sock`` (gunicorn's ``environ["gunicorn.socket"]``) has closed the
    connection, checked without blocking and without consuming input (``poll``, then a
    ``MSG_PEEK`` read). False when unknown (no socket: another WSGI server)."""
    if sock is None:
        return False
    try:
        poll = getattr(select, "poll", None)  # gevent's monkey-patching removes it
        if poll is not None:
            poller = poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False  # nothing to read: the client is there, waiting
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except (OSError, ValueError):
        return True


def run_stream_key(run_id: uuid.UUID | str) -> str:
    return f"callboard:stream:run:{run_id}"


def thread_stream_key(thread_id: uuid.UUID | str) -> str:
    return f"callboard:stream:thread:{thread_id}"


class StreamWriter:
    """Appends one run's events (async, on the worker's event loop).

    A Redis failure never fails the run: the writer logs once and stops writing (readers then
    serve the final state from Postgres).
    """

    def __init__(
        self, client: redis.asyncio.Redis, run_id: uuid.UUID, thread_id: uuid.UUID, to_thread: bool
    ) -> None:
        self.client = client
        self.run_id = str(run_id)
        self.run_key = run_stream_key(run_id)
        self.thread_key = thread_stream_key(thread_id) if to_thread else None
        self.broken = False
        self._expiry_set = False

    async def send(self, event: str, data: Any) -> None:
        if self.broken:
            return
        fields: dict[Any, Any] = {"event": event, "data": serde.dumps(data)}
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.xadd(self.run_key, fields, maxlen=MAXLEN, approximate=True)
            if self.thread_key:
                pipe.xadd(
                    self.thread_key,
                    {**fields, "run_id": self.run_id},
                    maxlen=MAXLEN,
                    approximate=True,
                )
            if not self._expiry_set:
                pipe.expire(self.run_key, LIVE_TTL_SECONDS)
                if self.thread_key:
                    pipe.expire(self.thread_key, LIVE_TTL_SECONDS)
            await pipe.execute()
            self._expiry_set = True
        except redis.RedisError as exc:
            self.broken = True
            logger.warning(
                "run %r: event stream disabled after a Redis error: %s", self.run_id, exc
            )


def end_stream(client: redis.Redis, run_id: uuid.UUID, thread_id: uuid.UUID, status: str) -> None:
    """Append the end marker (after the final status is committed) and let the keys expire."""
    try:
        pipe = client.pipeline(transaction=False)
        pipe.xadd(
            run_stream_key(run_id),
            {"event": END, "data": serde.dumps({"status": status})},
            maxlen=MAXLEN,
            approximate=True,
        )
        pipe.expire(run_stream_key(run_id), STREAM_TTL_SECONDS)
        pipe.xadd(
            thread_stream_key(thread_id),
            {"event": END, "data": serde.dumps({"status": status}), "run_id": str(run_id)},
            maxlen=MAXLEN,
            approximate=True,
        )
        pipe.expire(thread_stream_key(thread_id), STREAM_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("run %r: could not end its event stream: %s", str(run_id), exc)


def publish_state_update(client: redis.Redis, thread_id: uuid.UUID, state: Any) -> None:
    """Append a ``state_update`` event (``{"state": <ThreadState JSON>, "thread_id"}``) to the
    thread's stream, for ``GET /threads/{thread_id}/stream``. Never raises: the state change is
    committed already, and a thread stream is best effort."""
    data = {"state": state, "thread_id": str(thread_id)}
    try:
        pipe = client.pipeline(transaction=False)
        key = thread_stream_key(thread_id)
        pipe.xadd(key, {"event": "state_update", "data": serde.dumps(data)}, maxlen=MAXLEN)
        pipe.expire(key, STREAM_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("thread %r: could not publish a state update: %s", str(thread_id), exc)


def format_sse(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE message (``event:``/``data:``/``id:``), data already JSON text."""
    lines = [f"event: {event}"]
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    if event_id:
        lines.append(f"id: {event_id}")
    return "\n".join(lines) + "\n\n"


def read_stream(
    client: redis.Redis, key: str, after: str, block_ms: int | None
) -> list[tuple[str, dict[str, str]]]:
    """Entries of ``key`` after entry id ``after`` (at most 500), waiting up to ``block_ms``
    milliseconds for the first one; ``block_ms=None`` answers at once (``XREAD`` without
    ``BLOCK``: note that Redis's ``BLOCK 0`` would wait forever).

    Raises:
        redis.RedisError: Redis is unreachable (after the client's retries).
    """
    if block_ms is not None and block_ms <= 0:
        block_ms = None
    result: Any = client.xread({key: after}, count=500, block=block_ms)
    entries: list[tuple[str, dict[str, str]]] = []
    for _key, items in result or []:
        for entry_id, fields in items:
            entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return entries


def last_entry(client: redis.Redis, key: str) -> tuple[str, dict[str, str]] | None:
    """The newest entry of ``key`` (id, fields), None if the stream is empty or gone.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    items: Any = client.xrevrange(key, count=1)
    if not items:
        return None
    entry_id, fields = items[0]
    return _text(entry_id), {_text(k): _text(v) for k, v in fields.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_event_id(value: str | None) -> str | None:
    """A client's ``Last-Event-ID`` as a Redis Stream id to read after, None if it is not one.

    Accepted as the official server accepts them: ``<ms>-<seq>``, ``<ms>``, and ``-`` (from the
    start; returned as ``0-0``).
    """
    if not value:
        return None
    if value == "-":
        return "0-0"
    ms, sep, seq = value.partition("-")
    if ms.isdigit() and (not sep or seq.isdigit()):
        return value
    return None
