"""Helpers of the state-machine and sweeper tests: runs made straight in the store, the real
Dramatiq queue in Redis read without consuming it, and a one-thread drain of that queue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
import redis

from app.run_requests import build_run
from app.store import run_creation
from app.store import threads as thread_store
from app.store.db import Database

DRAMATIQ_NAMESPACE = "dramatiq"


def new_thread(db: Database) -> uuid.UUID:
    thread_id = uuid.uuid4()
    assert thread_store.insert(db, thread_id) is not None
    return thread_id


def new_run(
    db: Database,
    thread_id: uuid.UUID | None = None,
    *,
    graph_id: str = "ledger",
    input: Any = None,
    run_id: uuid.UUID | None = None,
) -> dict:
    """Insert a pending run (create → pending) as the web does, without sending its message."""
    thread_id = thread_id or new_thread(db)
    new = run_creation.NewRun(
        run_id=run_id or uuid.uuid4(),
        thread_id=thread_id,
        assistant_id=uuid.uuid4(),
        graph_id=graph_id,
        metadata={},
        kwargs=run_kwargs(graph_id, input if input is not None else {}, thread_id),
    )
    return run_creation.create(db, [(new, None)])[0].row


def run_kwargs(graph_id: str, run_input: Any, thread_id: uuid.UUID) -> dict:
    """A run's ``kwargs`` as the API stores them (every option defaulted: the worker reads them)
    for ``run_input`` on ``thread_id``."""
    assistant = {"assistant_id": uuid.uuid4(), "graph_id": graph_id, "config": {}, "context": {}}
    return build_run(assistant, {"input": run_input}, thread_id).kwargs


def queued(client: redis.Redis, queue_name: str) -> list[tuple[str, int]]:
    """The ``execute_run`` messages waiting in the Redis queue, in order, as (run_id, version);
    read without consuming them."""
    queue = f"{DRAMATIQ_NAMESPACE}:{queue_name}"
    ids = client.lrange(queue, 0, -1)
    if not ids:
        return []
    out = []
    for data in client.hmget(f"{queue}.msgs", ids):
        assert data is not None
        message = dramatiq.Message.decode(data)
        assert message.actor_name == "execute_run"
        run_id, version = message.args
        out.append((run_id, int(version)))
    return out


def drain(
    broker: dramatiq.Broker, queue_name: str, handle: Callable[..., None], limit: int = 50
) -> list[tuple[str, int]]:
    """Consume the queue as a one-thread worker does: call ``handle(*args)`` for each message in
    turn and ack it, until the queue is empty. Returns the messages handled, in order."""
    consumer = broker.consume(queue_name, prefetch=1, timeout=50)
    handled: list[tuple[str, int]] = []
    try:
        for _ in range(limit):
            message = next(consumer)
            if message is None:
                return handled
            handle(*message.args)
            consumer.ack(message)
            handled.append((message.args[0], int(message.args[1])))
    finally:
        consumer.close()
    raise AssertionError(f"queue {queue_name!r} still not empty after {limit} messages")


def db_now(db: Database) -> Any:
    return db.run(lambda conn: conn.execute("SELECT now() AS now").fetchone()["now"], "now")


def sql(db: Database, statement: str, params: dict | None = None) -> list[dict]:
    """Run raw SQL (for set-ups the state machine cannot produce, and for reads)."""

    def work(conn: Any) -> list[dict]:
        cur = conn.execute(statement, params or {})
        return cur.fetchall() if cur.description else []

    return db.run(work, "test sql")


def checkpoint_count(db: Database, thread_id: uuid.UUID) -> int:
    rows = sql(
        db, "SELECT count(*) AS n FROM checkpoints WHERE thread_id = %(t)s", {"t": str(thread_id)}
    )
    return int(rows[0]["n"])


def checkpoint_write_count(db: Database, thread_id: uuid.UUID) -> int:
    rows = sql(
        db,
        "SELECT count(*) AS n FROM checkpoint_writes WHERE thread_id = %(t)s",
        {"t": str(thread_id)},
    )
    return int(rows[0]["n"])
