"""The thread event log of the thread-streaming protocol (``langchain_protocol``), in Redis.

One Redis Stream per thread holds the protocol events of every protocol run of the thread
(``run.start`` / ``input.respond`` commands, ``app/api/thread_stream.py``); the worker appends
(``workers/stream_protocol.py``), any web process reads, so a subscriber can reconnect to
another instance and resume with ``since``. Keys:

    callboard:protocol:thread:<thread_id>   Redis Stream: fields ``seq``, ``run_id``, ``event``
                                            (JSON ``{"method", "params"}``)
    callboard:protocol:seq:<thread_id>      the thread's last ``seq`` (INCR, atomically with the
                                            XADD, so seqs are gap-free and ordered as entries)
    callboard:protocol:start:<thread_id>    the ``seq`` before the thread's latest protocol run:
                                            a subscriber without ``since`` starts after it
    callboard:protocol:run:<run_id>         marks a protocol run (its terminal lifecycle event
                                            is appended when it ends, whoever ends it)
    callboard:protocol:input:<run_id>       the run's root interrupts (JSON list), announced
                                            when the run's end is committed
    callboard:protocol:sub:<subscription>   a WebSocket subscription (JSON ``{"thread_id",
                                            "params"}``), so ``subscription.reconnect`` restores
                                            it on any instance

An event as served: ``{"type": "event", "event_id": <entry id>, "seq": <int>, "method",
"params": {"namespace", "timestamp", "data", ...}}`` (``langchain_protocol.Event``). Keys live
``TTL_SECONDS`` after the last write; a thread idle longer starts again at seq 1.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import redis
import redis.asyncio

from app import serde

logger = logging.getLogger(__name__)

TTL_SECONDS = 86_400
MAXLEN = 20_000  # events kept per thread (approximate trim)

# INCR the thread's seq and XADD the event with it, in one step (a Lua script is atomic)
_APPEND = """
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*',
                      'seq', seq, 'run_id', ARGV[1], 'event', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {seq, id}
"""


def stream_key(thread_id: uuid.UUID | str) -> str:
    return f"callboard:protocol:thread:{thread_id}"


def seq_key(thread_id: uuid.UUID | str) -> str:
    return f"callboard:protocol:seq:{thread_id}"


def start_key(thread_id: uuid.UUID | str) -> str:
    return f"callboard:protocol:start:{thread_id}"


def run_key(run_id: uuid.UUID | str) -> str:
    return f"callboard:protocol:run:{run_id}"


def input_key(run_id: uuid.UUID | str) -> str:
    return f"callboard:protocol:input:{run_id}"


async def aset_pending_input(
    client: redis.asyncio.Redis, run_id: Any, requests: list[dict[str, Any]]
) -> None:
    """Keep the run's root interrupts (``{"interrupt_id", "payload"}`` each) for ``end_run``."""
    await client.set(input_key(run_id), serde.dumps(requests), ex=TTL_SECONDS)


def make_event(method: str, namespace: list[str], data: Any, **extra: Any) -> dict[str, Any]:
    """A protocol event without its ``seq``/``event_id`` (assigned when appended)."""
    params: dict[str, Any] = {
        "namespace": list(namespace),
        "timestamp": int(time.time() * 1000),
        "data": data,
    }
    params.update(extra)
    return {"method": method, "params": params}


def lifecycle(status: str, graph_name: str, error: str | None = None) -> dict[str, Any]:
    """A root ``lifecycle`` event (``status``: started, running, completed, failed,
    interrupted)."""
    data: dict[str, Any] = {"event": status, "graph_name": graph_name}
    if error is not None:
        data["error"] = error
    return make_event("lifecycle", [], data)


def append(client: redis.Redis, thread_id: Any, run_id: Any, event: dict[str, Any]) -> int:
    """Append ``event`` (sync client); returns its seq.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    seq, _id = client.eval(_APPEND, 2, *_append_args(thread_id, run_id, event))  # type: ignore[misc]
    return int(seq)


async def aappend(
    client: redis.asyncio.Redis, thread_id: Any, run_id: Any, event: dict[str, Any]
) -> int:
    """``append`` on an asyncio client."""
    args = _append_args(thread_id, run_id, event)
    seq, _id = await client.eval(_APPEND, 2, *args)  # type: ignore[misc]
    return int(seq)


def _append_args(thread_id: Any, run_id: Any, event: dict[str, Any]) -> tuple[Any, ...]:
    """The keys and arguments of ``_APPEND``."""
    return (
        stream_key(thread_id),
        seq_key(thread_id),
        str(run_id),
        serde.dumps(event),
        TTL_SECONDS,
        MAXLEN,
    )


def current_seq(client: redis.Redis, thread_id: Any) -> int:
    """The thread's last seq (0 before its first event)."""
    return int(client.get(seq_key(thread_id)) or 0)


def mark_run_start(client: redis.Redis, thread_id: Any, run_id: Any) -> int:
    """Record a protocol run about to start on the thread; returns the seq before it (the
    ``applied_through_seq`` of the command's answer)."""
    seq = current_seq(client, thread_id)
    _mark(client.pipeline(transaction=False), thread_id, run_id, seq).execute()
    return seq


async def amark_run_start(client: redis.asyncio.Redis, thread_id: Any, run_id: Any) -> int:
    """``mark_run_start`` on an asyncio client (a classic run shown on the thread's stream,
    ``workers/classic_protocol.py``)."""
    seq = int(await client.get(seq_key(thread_id)) or 0)
    await _mark(client.pipeline(transaction=False), thread_id, run_id, seq).execute()
    return seq


def _mark(pipe: Any, thread_id: Any, run_id: Any, seq: int) -> Any:
    """Queue on ``pipe`` (sync or asyncio) the keys that mark a run's start."""
    pipe.set(start_key(thread_id), seq, ex=TTL_SECONDS)
    pipe.set(run_key(run_id), str(thread_id), ex=TTL_SECONDS)
    return pipe


def start_seq(client: redis.Redis, thread_id: Any) -> int:
    """The seq a subscriber without ``since`` starts after."""
    return int(client.get(start_key(thread_id)) or 0)


def end_run(client: redis.Redis, row: dict[str, Any]) -> None:
    """After a run's final status is committed: if it is a protocol run, append its root
    terminal ``lifecycle`` event: ``completed`` (success), ``failed`` with the error (error,
    timeout, and a cancelled run, whose status is ``interrupted`` — the official server sends
    nothing then, and the SDK's projections would wait forever); for a run that stopped at an
    interrupt, one ``input.requested`` per interrupt then ``interrupted``. Never raises."""
    run_id, thread_id = row["run_id"], row["thread_id"]
    try:
        if not client.delete(run_key(run_id)):
            return
        pending = client.getdel(input_key(run_id))
        status = row.get("status")
        graph_name = row.get("graph_id") or "LangGraph"
        error = row.get("error") or {}
        if status == "success" and pending:
            for request in json.loads(pending):
                append(client, thread_id, run_id, make_event("input.requested", [], request))
            event = lifecycle("interrupted", graph_name)
        elif status == "success":
            event = lifecycle("completed", graph_name)
        elif status == "interrupted":
            event = lifecycle("failed", graph_name, error="run cancelled")
        else:
            message = error.get("message") if isinstance(error, dict) else None
            event = lifecycle("failed", graph_name, error=message or str(status))
        append(client, thread_id, run_id, event)
    except redis.RedisError as exc:
        logger.warning("run %r: could not end its protocol stream: %s", str(run_id), exc)


def read(
    client: redis.Redis, thread_id: Any, after: str, block_ms: int | None
) -> list[tuple[str, dict[str, Any]]]:
    """Events of the thread's stream after entry id ``after`` (at most 500), waiting up to
    ``block_ms`` for the first; each ``(entry id, event as served)``.

    Raises:
        redis.RedisError: Redis is unreachable.
    """
    result: Any = client.xread({stream_key(thread_id): after}, count=500, block=block_ms)
    return [_served(entry_id, fields) for _key, items in result or [] for entry_id, fields in items]


def read_through(
    client: redis.Redis, thread_id: Any, last: str
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of the thread's stream up to entry id ``last`` (included; ``"+"``: all),
    as ``read`` serves them. Raises ``redis.RedisError``."""
    items: Any = client.xrange(stream_key(thread_id), "-", last)
    return [_served(entry_id, fields) for entry_id, fields in items or []]


def first_seq(client: redis.Redis, thread_id: Any) -> int | None:
    """The seq of the oldest event still kept for the thread (None: no event kept)."""
    items: Any = client.xrange(stream_key(thread_id), "-", "+", count=1)
    return _served(*items[0])[1]["seq"] if items else None


def seq_of(client: redis.Redis, thread_id: Any, event_id: str) -> int | None:
    """The seq of the event whose ``event_id`` (entry id) is given; None if it is not kept."""
    try:
        items: Any = client.xrange(stream_key(thread_id), event_id, event_id)
    except redis.ResponseError:  # not an entry id
        return None
    return _served(*items[0])[1]["seq"] if items else None


def sub_key(subscription_id: str) -> str:
    return f"callboard:protocol:sub:{subscription_id}"


def save_subscription(
    client: redis.Redis, subscription_id: str, thread_id: Any, params: dict[str, Any]
) -> None:
    """Keep a subscription's filter (``SubscribeParams``) for ``TTL_SECONDS``."""
    value = serde.dumps({"thread_id": str(thread_id), "params": params})
    client.set(sub_key(subscription_id), value, ex=TTL_SECONDS)


def load_subscription(
    client: redis.Redis, subscription_id: str, thread_id: Any
) -> dict[str, Any] | None:
    """The filter of a subscription made on ``thread_id`` (None: unknown, expired, or made on
    another thread)."""
    raw = client.get(sub_key(subscription_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return value["params"] if value["thread_id"] == str(thread_id) else None


def _served(entry_id: bytes | str, fields: dict[Any, Any]) -> tuple[str, dict[str, Any]]:
    entry = _text(entry_id)
    values = {_text(k): _text(v) for k, v in fields.items()}
    event = json.loads(values["event"])
    return entry, {"type": "event", "event_id": entry, "seq": int(values["seq"]), **event}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
