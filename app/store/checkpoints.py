"""LangGraph's Postgres checkpointer, fenced by the run's lease.

``FencedPostgresSaver`` is ``langgraph-checkpoint-postgres``'s ``AsyncPostgresSaver`` with one
change: every write (``aput``, ``aput_writes``: the calls that ask for a pipelined cursor) runs in
a transaction that first holds the run's row ``FOR SHARE`` where ``claim_token`` still matches
(query ``lock_run_lease``), then the inserts, then COMMIT; a fence that finds no row rolls back
before any insert. A worker that lost its lease
(requeued by the sweeper, cancelled, thread deleted) therefore writes nothing into the thread:
the write raises ``LeaseLost``.
The attempt writing is named by the ``current_lease`` context variable, which LangGraph's tasks
and executor threads inherit. It also drops the base class's per-saver ``asyncio.Lock``, which
would serialize every run of the worker process on one lock although each call takes its own
pooled connection.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from app.capacity import WORKER_CHECKPOINT_POOL_MAX
from app.errors import CallboardError
from app.store.db import QUERIES, acheck_idle_connection

# longest pause inside a transaction of the checkpointer's connections (milliseconds; see
# ``worker_checkpoint_pool``): far beyond any pause of a live process, well below a TCP
# keepalive's hours
IDLE_IN_TRANSACTION_MS = 10_000


@dataclass(frozen=True)
class CheckpointRows:
    """One checkpoint as ``langgraph-checkpoint-postgres`` stores it, ready for ``finish_run``:
    the ``checkpoints`` row (``checkpoint``: the checkpoint with its inline primitive values,
    ``metadata``) and the ``checkpoint_blobs`` rows ``(channel, version, type, blob)`` of its
    other values, as the saver's ``_dump_blobs`` serializes them (``workers.plain`` builds it).
    ``checkpoint`` None = no checkpoint."""

    checkpoint_id: str | None = None
    parent_checkpoint_id: str | None = None
    checkpoint: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    blobs: tuple[tuple[str, str, str, bytes | None], ...] = ()

    def params(self) -> dict[str, Any]:
        """The ``finish_run`` parameters."""
        return {
            "checkpoint_id": self.checkpoint_id,
            "parent_checkpoint_id": self.parent_checkpoint_id,
            "checkpoint": None if self.checkpoint is None else Jsonb(self.checkpoint),
            "checkpoint_metadata": None if self.metadata is None else Jsonb(self.metadata),
            "blob_channels": [b[0] for b in self.blobs],
            "blob_versions": [b[1] for b in self.blobs],
            "blob_types": [b[2] for b in self.blobs],
            "blob_data": [b[3] for b in self.blobs],
        }


NO_CHECKPOINT = CheckpointRows()


class LeaseLost(CallboardError):
    """The attempt no longer owns its run: its writes are refused and its result discarded."""


@dataclass(frozen=True)
class Lease:
    run_id: uuid.UUID
    claim_token: uuid.UUID


current_lease: ContextVar[Lease | None] = ContextVar("callboard_current_lease", default=None)


class FencedPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` over an ``AsyncConnectionPool`` whose writes are fenced (above)."""

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[Any]:
        async with self.conn.connection() as conn:  # type: ignore[union-attr]
            if not pipeline:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur
                return
            lease = current_lease.get()
            # Not a pipeline: between statements the session is "idle in transaction", so the
            # checkpointer connections' idle_in_transaction_session_timeout frees the row a
            # frozen worker (SIGSTOP, a long pause) holds FOR SHARE, and the sweeper can requeue
            # its run. Inside a pipeline no Sync reaches the server until the results are read:
            # the session stays "active", the timeout never fires, and the run stays locked
            # (test_frozen_worker_loses_its_lease_and_its_late_results_change_nothing).
            async with conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
                if lease is not None:
                    await cur.execute(
                        QUERIES["lock_run_lease"],
                        {"run_id": lease.run_id, "claim_token": lease.claim_token},
                    )
                    if await cur.fetchone() is None:
                        raise LeaseLost(f"run {lease.run_id} is no longer held by this attempt")
                yield cur


def worker_checkpoint_pool(database_url: str) -> AsyncConnectionPool:
    """The worker's pool for LangGraph's checkpointer and store (``FencedPostgresSaver``,
    ``AsyncPostgresStore``), not yet opened: the caller opens it on its event loop
    (``await pool.open(wait=False)``) and closes it (``await pool.close()``).

    At most ``WORKER_CHECKPOINT_POOL_MAX`` connections (``app.capacity``: the connection
    budget), autocommit, ``dict_row``, no server-side prepared statements, and a checkout waits
    at most 10 seconds (``psycopg_pool.PoolTimeout``). A session left idle inside a transaction
    for ``IDLE_IN_TRANSACTION_MS`` milliseconds is ended by the server."""
    return AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=WORKER_CHECKPOINT_POOL_MAX,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            # a fenced checkpoint write holds its run's row (FOR SHARE) until COMMIT: if the
            # process stalls inside one (a frozen VM, a network partition), the server ends the
            # session and frees the row instead of leaving it locked for hours
            "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        },
        open=False,
        timeout=10.0,
        # a checkpoint write cannot be retried by its caller (LangGraph drives it): hand out
        # only live connections, or each one a Postgres restart killed fails an attempt
        # (checked without a round trip: acheck_idle_connection)
        check=acheck_idle_connection,
    )


def sync_saver(pool: ConnectionPool) -> PostgresSaver:
    """A read-side checkpointer for the web process (state, history); ``pool`` must hand out
    autocommit connections with ``dict_row`` and ``prepare_threshold=0`` as the saver expects.

    Without LangGraph's per-saver ``threading.Lock``: it guards one shared connection, but each
    call here borrows a connection of its own from the pool, and the lock would make every state
    and history read of the web process wait for the one in progress (one long history read
    would hold them all)."""
    saver = PostgresSaver(pool)  # type: ignore[arg-type]
    saver.lock = nullcontext()  # type: ignore[assignment]
    return saver
