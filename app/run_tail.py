"""Follow one run's events as they come (``callboard runs tail``): the run's Redis Stream
(``app.streams``: ``callboard:stream:run:<run_id>``), read from its first entry with blocking
``XREAD`` until the ``__end__`` marker the worker appends after committing the final status.

The stream is best effort (a Redis failure in the worker stops its writes; a finished run's
events expire ``STREAM_TTL_SECONDS`` after its end): every ``check_seconds`` without an event,
Postgres is asked whether the run has ended, so the tail always ends with the run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from app.errors import NotFound
from app.runs import TERMINAL
from app.store import runs as run_store
from app.store.db import Database
from app.streams import END, read_stream, run_stream_key


class RunNotFound(NotFound):
    """The run to tail does not exist."""


@dataclass(frozen=True)
class RunEvent:
    """One event of a run's stream: ``id`` is the Redis Stream entry id (the SSE ``id:``),
    ``event`` the stream mode (``values``, ``updates``, ``custom``, ...), ``data`` decoded JSON."""

    id: str
    event: str
    data: Any


def tail_run(
    db: Database,
    client: redis.Redis,
    run_id: uuid.UUID,
    on_event: Callable[[RunEvent], None],
    *,
    timeout: float | None = None,
    block_ms: int = 1000,
    check_seconds: float = 4.0,
) -> dict[str, Any]:
    """Call ``on_event`` for each event of the run, from the first, until it ends; return the
    run's final row (from Postgres).

    Raises:
        RunNotFound: no such run.
        TimeoutError: ``timeout`` seconds passed before the run ended.
    """
    if run_store.get(db, run_id) is None:
        raise RunNotFound(f"run {run_id} not found")
    key = run_stream_key(run_id)
    after = "0-0"
    started = last_check = time.monotonic()
    while True:
        entries = read_stream(client, key, after, block_ms)
        for entry_id, fields in entries:
            after = entry_id
            if fields.get("event") == END:
                return _final(db, run_id)
            on_event(RunEvent(entry_id, fields.get("event", ""), json.loads(fields["data"])))
        now = time.monotonic()
        if not entries and now - last_check >= check_seconds:
            last_check = now
            row = run_store.get(db, run_id)
            if row is None or row["status"] in TERMINAL:
                # ended without (or after the expiry of) its end marker: read what is left
                for entry_id, fields in read_stream(client, key, after, None):
                    if fields.get("event") != END:
                        data = json.loads(fields["data"])
                        on_event(RunEvent(entry_id, fields.get("event", ""), data))
                return _final(db, run_id)
        if timeout is not None and now - started >= timeout:
            raise TimeoutError(f"run {run_id} still running after {timeout} s")


def _final(db: Database, run_id: uuid.UUID) -> dict[str, Any]:
    row = run_store.get(db, run_id)
    if row is None:  # deleted at its end (on_completion=delete, rollback)
        return {"run_id": run_id, "status": "deleted"}
    return row
