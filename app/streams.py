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
"""

from __future__ import annotations

import logging
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
        fields = {"event": event, "data": serde.dumps(data)}
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


def format_sse(event: str, data: str, event_id: str | None = None) -> str:
    """One SSE message (``event:``/``data:``/``id:``), data already JSON text."""
    lines = [f"event: {event}"]
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    if event_id:
        lines.append(f"id: {event_id}")
    return "\n".join(lines) + "\n\n"


def read_stream(
    client: redis.Redis, key: str, after: str, block_ms: int
) -> list[tuple[str, dict[str, str]]]:
    """Entries of ``key`` after entry id ``after``, waiting up to ``block_ms`` for the first."""
    result = client.xread({key: after}, count=500, block=block_ms)
    entries: list[tuple[str, dict[str, str]]] = []
    for _key, items in result or []:
        for entry_id, fields in items:
            entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return entries


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def valid_event_id(value: str | None) -> bool:
    """Whether ``value`` looks like a Redis Stream entry id (``<ms>-<seq>``)."""
    if not value:
        return False
    ms, _, seq = value.partition("-")
    return ms.isdigit() and seq.isdigit()
