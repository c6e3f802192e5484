"""Runs graphs: one asyncio event loop per worker process, fed by the Dramatiq worker threads.

Every graph (compiled graph, factory, entrypoint or wrapped plain function) runs through
LangGraph's ``astream`` on this loop, so one mechanism covers async and sync code: sync nodes run
in the loop's thread pool, sized to ``N_JOBS_PER_WORKER``. A Dramatiq worker thread calls
``Executor.execute`` and blocks until the run's coroutine ends; ``cancel`` cancels the coroutine
from any thread (a cancel request, a lost lease, shutdown). A sync node that ignores cancellation
keeps its pool thread until it returns, but the attempt ends at once and its late checkpoint
writes are refused by the fence (``app.store.checkpoints``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.types import Command
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.graphs import Registry
from app.notify import make_async_redis
from app.runs import RunStatus
from app.store.checkpoints import FencedPostgresSaver, Lease, LeaseLost, current_lease
from app.store.db import RETRYABLE
from app.store.runs import Claim
from app.streams import StreamWriter

logger = logging.getLogger(__name__)


class StopReason(enum.StrEnum):
    """Why an attempt was stopped from outside."""

    CANCEL = "cancel"  # a client asked: the run ends interrupted
    ROLLBACK = "rollback"  # a client asked, and the run is to be deleted
    LEASE_LOST = "lease_lost"  # another attempt owns the run now: discard everything
    SHUTDOWN = "shutdown"  # the worker is stopping: hand the run back


class Verdict(enum.StrEnum):
    """What the actor must do with the attempt."""

    FINISH = "finish"  # record ``status`` (terminal)
    REQUEUE = "requeue"  # transient failure: hand back, counted as an attempt
    HAND_BACK = "hand_back"  # shutdown: hand back, not counted
    DISCARD = "discard"  # lease lost: write nothing
    ROLLBACK = "rollback"  # cancelled with action=rollback: delete the run


@dataclass
class Outcome:
    verdict: Verdict
    status: RunStatus | None = None
    output: Any = None
    error: dict[str, str] | None = None
    values: Any = None
    interrupted: bool = False  # the graph stopped at an interrupt (human in the loop)


@dataclass
class _Active:
    task: asyncio.Task[Outcome]
    reason: StopReason | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}


def _run_config(claim: Claim) -> dict[str, Any]:
    run = claim.run
    kwargs = run["kwargs"]
    config = dict(kwargs.get("config") or {})
    configurable = dict(config.get("configurable") or {})
    configurable.update(
        thread_id=str(run["thread_id"]),
        run_id=str(run["run_id"]),
        assistant_id=str(run["assistant_id"]),
        graph_id=run["graph_id"],
    )
    if kwargs.get("checkpoint_id"):
        configurable["checkpoint_id"] = kwargs["checkpoint_id"]
    config["configurable"] = configurable
    metadata = dict(config.get("metadata") or {})
    metadata.update(run.get("metadata") or {})
    metadata["run_attempt"] = claim.attempt
    config["metadata"] = metadata
    return config


class Executor:
    """The process's event loop, its checkpointer, and the attempts running on it.

    Parameters:
        registry: the loaded graphs.
        database_url: Postgres for the checkpointer (its own async pool).
        redis_url: Redis for the run event streams (an asyncio client on this loop).
        n_jobs: runs at once (sizes the sync-node thread pool and the connection pool).
    """

    def __init__(self, registry: Registry, database_url: str, n_jobs: int, redis_url: str) -> None:
        self.registry = registry
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(
            ThreadPoolExecutor(max_workers=n_jobs + 2, thread_name_prefix="graph-node")
        )
        self._thread = threading.Thread(target=self._run_loop, name="graph-loop", daemon=True)
        self._active: dict[uuid.UUID, _Active] = {}
        self._lock = threading.Lock()
        self._thread.start()
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=1,
            max_size=n_jobs + 2,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
            open=False,
            timeout=10.0,
        )
        self._call(self.pool.open(wait=False))
        self.checkpointer: FencedPostgresSaver = self._call(self._make_checkpointer())
        # the long-term memory store graphs reach at run time (LangGraph's PostgresStore)
        self.store: AsyncPostgresStore = self._call(self._make_store())
        self.aredis = make_async_redis(redis_url)

    async def _make_checkpointer(self) -> FencedPostgresSaver:
        # the saver binds to the running loop when built
        return FencedPostgresSaver(self.pool)  # type: ignore[arg-type]

    async def _make_store(self) -> AsyncPostgresStore:
        return AsyncPostgresStore(self.pool)  # type: ignore[arg-type]

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Close the checkpointer's pool and stop the loop (running attempts are abandoned)."""
        self._call(self.pool.close())
        self._call(self.aredis.aclose())
        self._call(self.loop.shutdown_default_executor())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    @property
    def active_run_ids(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._active)

    def execute(self, claim: Claim, timeout: float) -> Outcome:
        """Run the claimed attempt to its end (blocking the calling thread); never raises for the
        graph's own errors, which become ``Outcome(FINISH, ERROR)``.

        Parameters:
            timeout: seconds before the run ends as ``timeout``.
        """
        future = asyncio.run_coroutine_threadsafe(self._execute(claim, timeout), self.loop)
        return future.result()

    def stop(self, run_id: uuid.UUID, reason: StopReason) -> bool:
        """Ask the attempt of ``run_id`` running here to stop; False if none is running here."""
        with self._lock:
            active = self._active.get(run_id)
            if active is None:
                return False
            if active.reason is None or reason == StopReason.LEASE_LOST:
                active.reason = reason
        self.loop.call_soon_threadsafe(active.task.cancel)
        return True

    def stop_all(self, reason: StopReason) -> int:
        """``stop`` every attempt running here; returns how many were asked."""
        return sum(self.stop(run_id, reason) for run_id in self.active_run_ids)

    async def _execute(self, claim: Claim, timeout: float) -> Outcome:
        task = asyncio.current_task()
        assert task is not None
        active = _Active(task)
        with self._lock:
            self._active[claim.run_id] = active
        current_lease.set(Lease(claim.run_id, claim.claim_token))
        writer = StreamWriter(
            self.aredis, claim.run_id, claim.thread_id, to_thread=not claim.run.get("temporary")
        )
        progress = _Progress()
        try:
            await writer.send("metadata", {"run_id": str(claim.run_id), "attempt": claim.attempt})
            async with asyncio.timeout(timeout) as deadline:
                try:
                    await self._stream_graph(claim, writer, progress)
                except TimeoutError as exc:
                    if deadline.expired():
                        raise
                    raise _GraphTimeoutError(str(exc)) from None
            return Outcome(
                Verdict.FINISH,
                RunStatus.SUCCESS,
                output=progress.values,
                values=progress.values,
                interrupted=progress.interrupted,
            )
        except TimeoutError:
            message = f"run exceeded its time limit of {timeout:g} s"
            error = {"error": "TimeoutError", "message": message}
            await writer.send("error", error)
            return Outcome(Verdict.FINISH, RunStatus.TIMEOUT, error=error, values=progress.values)
        except asyncio.CancelledError:
            reason = active.reason
            if reason is None:  # the loop itself is going away
                raise
            task.uncancel()
            if reason == StopReason.CANCEL:
                return Outcome(
                    Verdict.FINISH,
                    RunStatus.INTERRUPTED,
                    values=progress.values,
                    error={"error": "UserInterrupt", "message": "run cancelled"},
                )
            if reason == StopReason.ROLLBACK:
                return Outcome(Verdict.ROLLBACK)
            if reason == StopReason.SHUTDOWN:
                return Outcome(
                    Verdict.HAND_BACK, error={"error": "Shutdown", "message": "worker shut down"}
                )
            return Outcome(Verdict.DISCARD)
        except LeaseLost:
            return Outcome(Verdict.DISCARD)
        except RETRYABLE as exc:
            return Outcome(Verdict.REQUEUE, error=_error(exc))
        except _GraphTimeoutError as exc:
            error = {"error": "TimeoutError", "message": str(exc)}
            await writer.send("error", error)
            return Outcome(Verdict.FINISH, RunStatus.ERROR, error=error, values=progress.values)
        except Exception as exc:  # noqa: BLE001 - the graph's own failure is the run's result
            logger.info("run %r failed: %s: %s", str(claim.run_id), type(exc).__name__, exc)
            await writer.send("error", _error(exc))
            return Outcome(
                Verdict.FINISH, RunStatus.ERROR, error=_error(exc), values=progress.values
            )
        finally:
            with self._lock:
                self._active.pop(claim.run_id, None)
            active.done.set()

    async def _stream_graph(self, claim: Claim, writer: StreamWriter, progress: _Progress) -> None:
        """Run the graph, publishing the requested stream modes and tracking the final values."""
        run = claim.run
        kwargs = run["kwargs"]
        config = _run_config(claim)
        spec = self.registry.get(run["graph_id"])
        graph = spec.build(config).copy(
            update={"checkpointer": self.checkpointer, "store": self.store}
        )
        command = kwargs.get("command")
        graph_input = Command(**command) if command else kwargs.get("input")
        requested = list(kwargs.get("stream_mode") or ["values"])
        subgraphs = bool(kwargs.get("subgraphs"))
        publisher = _Publisher(writer, requested)
        # LangGraph's modes: what was asked, plus values (the result) and updates (interrupts)
        modes = sorted(
            {_LANGGRAPH_MODE.get(m, m) for m in requested if m != "events"} | {"values", "updates"}
        )
        options: dict[str, Any] = {
            "stream_mode": modes,
            "subgraphs": subgraphs,
            "context": kwargs.get("context") or None,
            "durability": kwargs.get("durability") or "async",
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
        }
        if "events" in requested:
            async for event in graph.astream_events(graph_input, config, version="v2", **options):
                await writer.send("events", event)
                if event.get("event") == "on_chain_stream" and not event.get("parent_ids"):
                    await self._on_chunk(event["data"]["chunk"], subgraphs, publisher, progress)
        else:
            async for item in graph.astream(graph_input, config, **options):
                await self._on_chunk(item, subgraphs, publisher, progress)
        await publisher.finish()

    @staticmethod
    async def _on_chunk(
        item: Any, subgraphs: bool, publisher: _Publisher, progress: _Progress
    ) -> None:
        namespace, (mode, chunk) = (item[0], item[1:]) if subgraphs else ((), item)
        if not namespace:
            if mode == "values":
                progress.values = chunk
            elif mode == "updates" and isinstance(chunk, dict) and "__interrupt__" in chunk:
                progress.interrupted = True
        await publisher.publish(mode, tuple(namespace), chunk)


# stream modes of the API that LangGraph names otherwise
_LANGGRAPH_MODE = {"messages-tuple": "messages"}


@dataclass
class _Progress:
    values: Any = None
    interrupted: bool = False


class _Publisher:
    """Turns LangGraph's ``(namespace, mode, chunk)`` into the official server's SSE events.

    ``messages-tuple`` → ``messages`` events ``[message, metadata]``; ``messages`` →
    ``messages/metadata`` once per message, then ``messages/partial`` with the message
    accumulated so far, and ``messages/complete`` at the end. Subgraph events are named
    ``<mode>|<namespace>``.
    """

    def __init__(self, writer: StreamWriter, requested: list[str]) -> None:
        self.writer = writer
        self.requested = set(requested)
        self._messages: dict[str, Any] = {}

    async def publish(self, mode: str, namespace: tuple[str, ...], chunk: Any) -> None:
        suffix = "|" + "|".join(namespace) if namespace else ""
        if mode == "messages":
            await self._message(chunk, suffix)
        elif mode in self.requested:
            await self.writer.send(mode + suffix, chunk)

    async def _message(self, chunk: Any, suffix: str) -> None:
        message, metadata = chunk
        if "messages-tuple" in self.requested:
            await self.writer.send("messages" + suffix, [message, metadata])
        if "messages" not in self.requested:
            return
        message_id = getattr(message, "id", None) or "unknown"
        seen = self._messages.get(message_id)
        if seen is None:
            await self.writer.send(
                "messages/metadata" + suffix, {message_id: {"metadata": metadata}}
            )
            seen = message
        elif hasattr(seen, "__add__") and type(seen) is type(message):
            seen = seen + message
        else:
            seen = message
        self._messages[message_id] = seen
        await self.writer.send("messages/partial" + suffix, [seen])

    async def finish(self) -> None:
        if "messages" in self.requested and self._messages:
            await self.writer.send("messages/complete", list(self._messages.values()))


class _GraphTimeoutError(Exception):
    """A TimeoutError raised by the graph itself, not by the run's time limit."""
