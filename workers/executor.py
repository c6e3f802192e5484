"""Runs graphs: one asyncio event loop per worker process, fed by the Dramatiq worker threads.

Every graph (compiled graph, factory, entrypoint or wrapped plain function) runs through
LangGraph's ``astream`` on this loop, so one mechanism covers async and sync code: sync nodes run
in the loop's thread pool, sized to ``N_JOBS_PER_WORKER``. A Dramatiq worker thread calls
``Executor.execute`` and blocks until the run's coroutine ends; ``cancel`` cancels the coroutine
from any thread (a cancel request, a lost lease, shutdown). A sync node that ignores cancellation
keeps its pool thread until it returns, but the attempt ends at once and its late checkpoint
writes are refused by the fence (``app.store.checkpoints``). The long-term store (``store``) is
not fenced: a stale attempt may write to it until it is stopped (at-least-once; README).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import (
    BaseMessage,
    BaseMessageChunk,
    convert_to_messages,
    message_chunk_to_message,
)
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.types import Command

from app.graphs import Registry
from app.notify import make_async_redis
from app.runs import RunStatus
from app.store.checkpoints import (
    CheckpointRows,
    FencedPostgresSaver,
    Lease,
    LeaseLost,
    current_lease,
    worker_checkpoint_pool,
)
from app.store.db import RETRYABLE
from app.store.runs import Claim
from app.store.vectors import index_config
from app.streams import StreamWriter
from workers import plain
from workers.classic_protocol import ClassicMirror
from workers.stream_protocol import run_protocol_stream

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
    # the pending interrupts when it did: {task_id: [{"value", "id"}]}
    interrupts: dict[str, list[dict[str, Any]]] | None = None
    # a plain function's new state, written by the finish (workers.plain)
    checkpoint: CheckpointRows | None = None


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
    if claim.attempt == 1:  # the root run of the graph's callbacks (astream_events) is the run,
        config["run_id"] = uuid.UUID(str(run["run_id"]))  # as in the official server
    return config


class Executor:
    """The process's event loop, its checkpointer, and the attempts running on it.

    Parameters:
        registry: the loaded graphs.
        database_url: Postgres for the checkpointer and store (their own async pool:
            ``app.store.checkpoints.worker_checkpoint_pool``).
        redis_url: Redis for the run event streams (an asyncio client on this loop).
        n_jobs: runs at once (sizes the sync-node thread pool).
    """

    def __init__(self, registry: Registry, database_url: str, n_jobs: int, redis_url: str) -> None:
        self.registry = registry
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(
            ThreadPoolExecutor(max_workers=n_jobs + 2, thread_name_prefix="graph-node")
        )
        self._thread = threading.Thread(target=self._run_loop, name="graph-loop", daemon=True)
        # keyed by the claim, not the run: after a false requeue the same process may hold a
        # stale attempt and the run's next attempt at once, and each must see only its own
        self._active: dict[tuple[uuid.UUID, uuid.UUID], _Active] = {}
        self._lock = threading.Lock()
        self._thread.start()
        self.pool = worker_checkpoint_pool(database_url)
        self._call(self.pool.open(wait=False))
        self.checkpointer: FencedPostgresSaver = self._call(self._make_checkpointer())
        # the long-term memory store graphs reach at run time (LangGraph's PostgresStore)
        self.store: AsyncPostgresStore = self._call(self._make_store())
        self.aredis = make_async_redis(redis_url)

    async def _make_checkpointer(self) -> FencedPostgresSaver:
        # the saver binds to the running loop when built
        return FencedPostgresSaver(self.pool)  # type: ignore[arg-type]

    async def _make_store(self) -> AsyncPostgresStore:
        index = index_config(self.registry.deployment)  # langgraph.json store.index
        return AsyncPostgresStore(self.pool, index=index)  # type: ignore[arg-type]

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Close the checkpointer's pool and stop the loop (running attempts are abandoned),
        waiting at most ``timeout`` seconds in all: a loop blocked by a node, or a sync node
        that never returns, must not keep the process from exiting.

        Returns False when that bound was hit (the loop or a node thread is still busy: the
        caller should end the process with ``os._exit``)."""
        deadline = time.monotonic() + timeout
        steps = (self.pool.close, self.aredis.aclose, self.loop.shutdown_default_executor)
        try:
            for step in steps:
                self._call(step(), timeout=max(deadline - time.monotonic(), 0.01))
        except (TimeoutError, concurrent.futures.TimeoutError):
            logger.error("executor did not close within %g s (a blocked node?)", timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
            return False
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=max(deadline - time.monotonic(), 0.01))
        if self._thread.is_alive():
            return False
        self.loop.close()
        return True

    @property
    def active_run_ids(self) -> list[uuid.UUID]:
        """The runs with an attempt executing here (each once)."""
        with self._lock:
            return list(dict.fromkeys(run_id for run_id, _ in self._active))

    def execute(self, claim: Claim, timeout: float) -> Outcome:
        """Run the claimed attempt to its end (blocking the calling thread); never raises for the
        graph's own errors, which become ``Outcome(FINISH, ERROR)``.

        Parameters:
            timeout: seconds before the run ends as ``timeout``.
        """
        future = asyncio.run_coroutine_threadsafe(self._execute(claim, timeout), self.loop)
        return future.result()

    def stop(
        self, run_id: uuid.UUID, reason: StopReason, claim_token: uuid.UUID | None = None
    ) -> bool:
        """Ask the attempt of ``run_id`` held by ``claim_token`` (every attempt of the run when
        None) running here to stop; False if none is running here."""
        with self._lock:
            found = [
                active
                for (rid, token), active in self._active.items()
                if rid == run_id and claim_token in (None, token)
            ]
            for active in found:
                if active.reason is None or reason == StopReason.LEASE_LOST:
                    active.reason = reason
        for active in found:
            self.loop.call_soon_threadsafe(active.task.cancel)
        return bool(found)

    def stop_all(self, reason: StopReason) -> int:
        """``stop`` every attempt running here; returns how many were asked."""
        with self._lock:
            claims = list(self._active)
        return sum(self.stop(run_id, reason, token) for run_id, token in claims)

    async def _execute(self, claim: Claim, timeout: float) -> Outcome:
        task = asyncio.current_task()
        assert task is not None
        active = _Active(task)
        with self._lock:
            self._active[(claim.run_id, claim.claim_token)] = active
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
                values=progress.checkpoint_values if progress.interrupted else progress.values,
                interrupted=progress.interrupted,
                interrupts=progress.interrupts,
                checkpoint=progress.checkpoint,
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
                self._active.pop((claim.run_id, claim.claim_token), None)
            active.done.set()

    async def _stream_graph(self, claim: Claim, writer: StreamWriter, progress: _Progress) -> None:
        """Run the graph, publishing the requested stream modes and tracking the final values.

        As the official server does (``langgraph_api/stream.py``): ``events`` runs the graph
        through ``astream_events`` and publishes every event except the root graph's own
        ``on_chain_stream`` (those carry the other modes); a graph named ``LangGraph`` (the
        default) is renamed to its graph id.
        """
        run = claim.run
        kwargs = run["kwargs"]
        config = _run_config(claim)
        spec = self.registry.get(run["graph_id"])
        # a protocol run streams through LangGraph's v3 producer (workers/stream_protocol.py)
        if not kwargs.get("protocol") and plain.runs_directly(spec, kwargs):
            modes = list(kwargs["stream_mode"])
            result = await plain.call(spec, kwargs.get("input"), writer, modes)
            progress.values = result
            progress.checkpoint = plain.build_checkpoint(
                self.checkpointer, spec, claim, config, result
            )
            return
        built = await spec.abuild(config, store=self.store, context=kwargs.get("context"))
        update: dict[str, Any] = {"checkpointer": self.checkpointer, "store": self.store}
        if built.name == "LangGraph":
            update["name"] = run["graph_id"]
        graph = built.copy(update=update)
        command = kwargs.get("command")
        graph_input = Command(**command) if command else kwargs.get("input")
        requested = list(kwargs["stream_mode"])
        subgraphs = bool(kwargs.get("subgraphs"))
        mirror = None  # a classic run on a thread is shown to its protocol subscribers too
        if not kwargs.get("protocol") and not run.get("temporary"):
            mirror = ClassicMirror(
                self.aredis, claim.thread_id, claim.run_id, run["graph_id"], requested
            )
            await mirror.start()
        publisher = _Publisher(writer, requested, mirror)
        # LangGraph's modes: what was asked, plus values (the result) and updates (interrupts)
        modes = sorted(
            {_LANGGRAPH_MODE.get(m, m) for m in requested if m != "events"} | {"values", "updates"}
        )
        options: dict[str, Any] = {
            "stream_mode": modes,
            "subgraphs": subgraphs,
            "context": kwargs.get("context") or None,
            "durability": kwargs["durability"],
            "interrupt_before": kwargs.get("interrupt_before"),
            "interrupt_after": kwargs.get("interrupt_after"),
        }
        if kwargs.get("protocol"):
            result = await run_protocol_stream(
                graph,
                graph_input,
                config,
                {k: v for k, v in options.items() if k not in ("stream_mode", "subgraphs")},
                self.aredis,
                thread_id=claim.thread_id,
                run_id=claim.run_id,
                graph_name=run["graph_id"],
            )
            progress.values = result.values
            progress.interrupted = result.interrupted
        elif "events" in requested:
            async for event in graph.astream_events(graph_input, config, version="v2", **options):
                if "langsmith:hidden" in (event.get("tags") or ()):
                    continue
                if event.get("event") == "on_chain_stream" and not event.get("parent_ids"):
                    await self._on_chunk(event["data"]["chunk"], subgraphs, publisher, progress)
                else:
                    await writer.send("events", event)
        else:
            async for item in graph.astream(graph_input, config, **options):
                await self._on_chunk(item, subgraphs, publisher, progress)
        if progress.interrupted:
            await _read_interrupts(graph, claim, progress)
            if mirror is not None:
                await mirror.interrupted(progress.interrupts)

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
    # read back from the checkpoint when the run stopped at an interrupt (_read_interrupts)
    checkpoint_values: Any = None
    interrupts: dict[str, list[dict[str, Any]]] | None = None
    checkpoint: CheckpointRows | None = None  # a plain function's (workers.plain)


async def _read_interrupts(graph: Any, claim: Claim, progress: _Progress) -> None:
    """After a stop at an interrupt: the thread's values (without the ``__interrupt__`` key of
    the last ``values`` chunk) and its pending interrupts ``{task_id: [{"value", "id"}]}`` (none
    for ``interrupt_before``/``interrupt_after``), as the checkpoint just written holds them."""
    snapshot = await graph.aget_state({"configurable": {"thread_id": str(claim.thread_id)}})
    progress.checkpoint_values = snapshot.values
    progress.interrupts = {
        task.id: [{"value": i.value, "id": i.id} for i in task.interrupts]
        for task in snapshot.tasks
        if task.interrupts
    }


class _Publisher:
    """Turns LangGraph's ``(namespace, mode, chunk)`` into the official server's SSE events
    (``langgraph_api/stream.py``, ``astream_state``):

    - a requested mode → an event named after it, ``<mode>|<ns>|…`` for a subgraph's chunk;
    - ``messages-tuple`` → ``messages`` events ``[message, metadata]`` (it wins when both
      message modes are asked);
    - ``messages`` → ``messages/metadata`` ``{id: {"metadata": …}}`` the first time a message id
      is seen, then ``messages/partial`` (a chunk: the message accumulated so far) or
      ``messages/complete`` (a whole message), each ``[message]`` (never namespaced);
    - ``debug`` checkpoints gain ``checkpoint``/``parent_checkpoint`` (and each task's
      ``state`` becomes its ``checkpoint``), as the official server shows them.
    """

    def __init__(
        self, writer: StreamWriter, requested: list[str], mirror: ClassicMirror | None = None
    ) -> None:
        self.writer = writer
        self.requested = set(requested)
        self.mirror = mirror
        self._messages: dict[Any, BaseMessage] = {}

    async def publish(self, mode: str, namespace: tuple[str, ...], chunk: Any) -> None:
        if self.mirror is not None:
            await self.mirror.publish(mode, namespace, chunk)
        suffix = "|" + "|".join(namespace) if namespace else ""
        if mode == "messages":
            if "messages-tuple" in self.requested:
                await self.writer.send("messages" + suffix, list(chunk))
            elif "messages" in self.requested:
                await self._message(chunk)
        elif mode in self.requested:
            if mode == "debug":
                chunk = _debug_chunk(chunk)
            await self.writer.send(mode + suffix, chunk)

    async def _message(self, chunk: Any) -> None:
        message, metadata = chunk
        if isinstance(message, dict):
            message = convert_to_messages([message])[0]
        seen = self._messages.get(message.id)
        if seen is None:
            self._messages[message.id] = message
            await self.writer.send("messages/metadata", {message.id: {"metadata": metadata}})
        elif isinstance(seen, BaseMessageChunk) and isinstance(message, BaseMessageChunk):
            self._messages[message.id] = seen + message
        else:
            self._messages[message.id] = message
        event = "messages/partial" if isinstance(message, BaseMessageChunk) else "messages/complete"
        await self.writer.send(event, [message_chunk_to_message(self._messages[message.id])])


def _checkpoint_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A RunnableConfig as the API's ``Checkpoint`` (``thread_id``, ``checkpoint_ns``,
    ``checkpoint_id``, ``checkpoint_map``), None without a thread and checkpoint id."""
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    checkpoint = {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable["thread_id"],
    }
    if "checkpoint_ns" in configurable:
        checkpoint["checkpoint_ns"] = configurable["checkpoint_ns"] or ""
    if "checkpoint_map" in configurable:
        checkpoint["checkpoint_map"] = configurable["checkpoint_map"]
    return checkpoint


def _debug_chunk(chunk: Any) -> Any:
    if not isinstance(chunk, dict) or chunk.get("type") != "checkpoint" or not chunk.get("payload"):
        return chunk
    payload = chunk["payload"]
    tasks = []
    for task in payload.get("tasks") or []:
        state = task.get("state") if isinstance(task, dict) else None
        if isinstance(state, dict) and state.get("configurable"):
            task = {k: v for k, v in task.items() if k != "state"}
            task["checkpoint"] = state["configurable"]
        tasks.append(task)
    return {
        **chunk,
        "payload": {
            **payload,
            "checkpoint": _checkpoint_of(payload.get("config")),
            "parent_checkpoint": _checkpoint_of(payload.get("parent_config")),
            "tasks": tasks,
        },
    }


class _GraphTimeoutError(Exception):
    """A TimeoutError raised by the graph itself, not by the run's time limit."""
