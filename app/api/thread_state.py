"""A thread's state: read it (latest, or at a checkpoint, with subgraphs), list its history, and
update it (``as_node``, at a checkpoint) as ``langgraph-sdk``'s ``threads.get_state``,
``get_history`` and ``update_state`` call it.

The state is LangGraph's: the thread's graph (``metadata.graph_id``, set by its first run) reads
and writes its checkpoints with the web's ``PostgresSaver``. A thread no run has named a graph
for has an empty state and no history, and its state cannot be updated (400, as the official
server answers). An update is refused (409) while a run of the thread is pending or running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.errors import InvalidUpdateError
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from werkzeug.exceptions import BadRequest

from app import serde
from app.api.common import Blueprint, services
from app.api.threads import load_thread
from app.errors import InvalidInput, NotFound
from app.schemas.thread_state import (
    ThreadHistoryQuerySchema,
    ThreadHistorySchema,
    ThreadStateCheckpointSchema,
    ThreadStateQuerySchema,
    ThreadStateUpdateSchema,
)
from app.store import threads as thread_store
from app.store.db import retrying
from app.streams import publish_state_update

T = TypeVar("T")

blp = Blueprint("thread_state", __name__, description="A thread's state and history")


def _checkpoint(config: Mapping[str, Any] | None) -> dict | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    checkpoint = {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
    }
    if conf.get("checkpoint_map"):
        checkpoint["checkpoint_map"] = conf["checkpoint_map"]
    return checkpoint


def _interrupt(interrupt: Any) -> dict[str, Any]:
    return {"value": interrupt.value, "id": interrupt.id}


def task_interrupts(snapshot: StateSnapshot) -> dict[str, list[dict[str, Any]]]:
    """``{task_id: [{"value", "id"}]}``: the pending interrupts of a snapshot, as a thread's
    ``interrupts`` field holds them."""
    return {
        task.id: [_interrupt(i) for i in task.interrupts]
        for task in snapshot.tasks
        if task.interrupts
    }


def _dump(snapshot: StateSnapshot) -> dict[str, Any]:
    checkpoint = _checkpoint(snapshot.config)
    parent = _checkpoint(snapshot.parent_config)
    metadata = dict(snapshot.metadata or {})
    if metadata.get("checkpoint_ns") == "":
        metadata.pop("checkpoint_ns")
    return {
        "values": snapshot.values,
        "next": list(snapshot.next),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "path": list(task.path),
                "error": task.error,
                "interrupts": [_interrupt(i) for i in task.interrupts],
                # a subgraph's task: its checkpoint, or (subgraphs=true) its whole state
                "checkpoint": task.state["configurable"] if isinstance(task.state, dict) else None,
                "state": _dump(task.state) if isinstance(task.state, StateSnapshot) else None,
                "result": getattr(task, "result", None),
            }
            for task in snapshot.tasks
        ],
        "metadata": metadata,
        "created_at": snapshot.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": [_interrupt(i) for task in snapshot.tasks for i in task.interrupts],
        "checkpoint_id": checkpoint and checkpoint["checkpoint_id"],
        "parent_checkpoint_id": parent and parent["checkpoint_id"],
    }


def dump_state(snapshot: StateSnapshot, fields: list[str] | None = None) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as the official ``ThreadState`` JSON (subgraph tasks carry
    their own ``state`` when read with ``subgraphs``), keeping only ``fields`` when given
    (``values.<key>`` keeps one key of the values)."""
    return _select(serde.jsonable(_dump(snapshot)), fields)


def _select(state: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return state
    keys = [f[len("values.") :] for f in fields if f.startswith("values.")]
    out = {f: state[f] for f in fields if f in state}
    if keys:
        values = state["values"]
        out["values"] = (
            {k: values[k] for k in keys if k in values} if isinstance(values, dict) else values
        )
    return out


def _empty_state(thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    """A thread with no checkpoint: no checkpoint and no metadata, as the official server
    answers."""
    checkpoint = None
    if checkpoint_id is not None:
        checkpoint = {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}
    return {
        "values": {},
        "next": [],
        "tasks": [],
        "metadata": None,
        "created_at": None,
        "checkpoint": checkpoint,
        "parent_checkpoint": None,
        "interrupts": [],
        "checkpoint_id": checkpoint_id,
        "parent_checkpoint_id": None,
    }


def thread_graph(row: dict) -> Pregel | None:
    """The thread's graph with the web's checkpointer, or None when no run named one (or the
    graph is no longer registered)."""
    svc = services()
    graph_id = row["metadata"].get("graph_id")
    if graph_id not in svc.registry:
        return None
    return svc.registry.get(graph_id).graph.copy(update={"checkpointer": svc.saver})


def _config(row: dict, checkpoint: dict | None = None) -> RunnableConfig:
    """A RunnableConfig for the thread (at ``checkpoint`` when given: its id, namespace, map)."""
    configurable = {"checkpoint_ns": "", **(checkpoint or {})}
    if configurable.get("checkpoint_id") is None:
        configurable.pop("checkpoint_id", None)
    configurable["thread_id"] = str(row["thread_id"])
    return {"configurable": configurable}


def _require_checkpoint(config: RunnableConfig) -> None:
    if _read(lambda: services().saver.get_tuple(config), "read_checkpoint") is None:
        conf = config["configurable"]
        raise NotFound(
            f"Checkpoint {conf['checkpoint_id']!r} not found in thread {conf['thread_id']}"
        )


def _read(read: Callable[[], T], what: str) -> T:
    """A read through LangGraph's checkpointer, retried as the store's own units of work are
    (``app.store.db.retrying``: a connection a Postgres restart killed, a failover)."""
    return retrying(read, budget_seconds=services().db.retry_seconds, what=what)


def _state(row: dict, checkpoint: dict | None, subgraphs: bool, fields: list[str] | None) -> Any:
    config = _config(row, checkpoint)
    checkpoint_id = config["configurable"].get("checkpoint_id")
    if checkpoint_id is not None:
        _require_checkpoint(config)
    graph = thread_graph(row)
    if graph is None:
        return _select(_empty_state(str(row["thread_id"]), checkpoint_id), fields)
    return dump_state(
        _read(lambda: graph.get_state(config, subgraphs=subgraphs), "get_state"), fields
    )


@blp.route("/threads/<thread_id>/state", methods=["GET"])
@blp.arguments(ThreadStateQuerySchema, location="query")
def get_state(query: dict, thread_id: str) -> Any:
    """The thread's latest state (``subgraphs=true``: with the state of subgraph tasks)."""
    row = load_thread(thread_id)
    return _state(row, None, query["subgraphs"], query.get("select"))


@blp.route("/threads/<thread_id>/state/<checkpoint_id>", methods=["GET"])
@blp.arguments(ThreadStateQuerySchema, location="query")
def get_state_at(query: dict, thread_id: str, checkpoint_id: str) -> Any:
    """The state at one checkpoint of the thread (404 when the thread has no such checkpoint)."""
    row = load_thread(thread_id)
    checkpoint = {"checkpoint_id": checkpoint_id}
    return _state(row, checkpoint, query["subgraphs"], query.get("select"))


@blp.route("/threads/<thread_id>/state/checkpoint", methods=["POST"])
@blp.arguments(ThreadStateCheckpointSchema)
def get_state_at_checkpoint(body: dict, thread_id: str) -> Any:
    """The state at ``checkpoint`` (its id, and namespace for a subgraph's state)."""
    row = load_thread(thread_id)
    return _state(row, body["checkpoint"], body["subgraphs"], body.get("select"))


@blp.route("/threads/<thread_id>/state", methods=["POST"])
@blp.arguments(ThreadStateUpdateSchema)
def update_state(body: dict, thread_id: str) -> Any:
    """Write ``values`` as a new checkpoint, as if ``as_node`` had run (forking from
    ``checkpoint``/``checkpoint_id`` when given); the thread's values, status and interrupts
    follow. Answers ``{"checkpoint": {...}}`` (and the deprecated ``configurable`` and
    ``checkpoint_id``, as the official server).

    Errors: 404 unknown thread or checkpoint; 400 no graph yet, or LangGraph refused the update
    (unknown node, ambiguous update); 422 the graph's reducers refused the values; 409 a run of
    the thread is pending or running.
    """
    row = load_thread(thread_id, "update")
    graph = thread_graph(row)
    if graph is None:
        raise BadRequest(
            f"Thread '{row['thread_id']}' has no assigned graph ID. This usually occurs when no "
            "runs have been made on this particular thread. This operation requires a graph ID."
        )
    checkpoint = dict(body.get("checkpoint") or {})
    if body.get("checkpoint_id"):
        checkpoint["checkpoint_id"] = body["checkpoint_id"]
    config = _config(row, checkpoint)
    if config["configurable"].get("checkpoint_id") is not None:
        _require_checkpoint(config)
    latest = _config(row)

    def write() -> thread_store.StateWrite:
        try:
            written = graph.update_state(config, body["values"], as_node=body.get("as_node"))
        except InvalidUpdateError as exc:
            raise BadRequest(str(exc)) from None
        except (TypeError, ValueError, KeyError) as exc:  # a reducer or channel refused them
            raise InvalidInput(f"Invalid update: {type(exc).__name__}: {exc}") from None
        snapshot = graph.get_state(latest)
        return thread_store.StateWrite(
            result=serde.jsonable(written["configurable"]),
            values=serde.jsonable(snapshot.values),
            status="interrupted" if snapshot.next else "idle",
            interrupts=serde.jsonable(task_interrupts(snapshot)),
        )

    checkpoint = thread_store.update_state(services().db, row["thread_id"], write)
    # GET /threads/{thread_id}/stream carries it (stream_mode=state_update), as the official
    # server's thread stream does
    publish_state_update(services().redis, row["thread_id"], _state(row, None, False, None))
    return {
        "checkpoint": checkpoint,
        "configurable": checkpoint,
        "checkpoint_id": checkpoint["checkpoint_id"],
    }


def _history(
    row: dict,
    *,
    limit: int,
    before: str | dict | None,
    metadata: dict | None,
    checkpoint: dict | None,
    fields: list[str] | None,
) -> list[dict[str, Any]]:
    graph = thread_graph(row)
    if graph is None:
        return []
    before_id = before if isinstance(before, str) else (before or {}).get("checkpoint_id")
    before_config: RunnableConfig | None = (
        {"configurable": {"checkpoint_id": before_id}} if before_id else None
    )
    snapshots = _read(
        lambda: list(
            graph.get_state_history(
                _config(row, checkpoint), limit=limit, before=before_config, filter=metadata or None
            )
        ),
        "get_state_history",
    )
    return [dump_state(s, fields) for s in snapshots]


@blp.route("/threads/<thread_id>/history", methods=["POST"])
@blp.arguments(ThreadHistorySchema)
def history(body: dict, thread_id: str) -> Any:
    """Past states, newest first: at most ``limit``, older than ``before``, whose checkpoint
    metadata contains ``metadata``, of the namespace of ``checkpoint`` (a subgraph's)."""
    row = load_thread(thread_id)
    return _history(
        row,
        limit=body["limit"],
        before=body.get("before"),
        metadata=body.get("metadata"),
        checkpoint=body.get("checkpoint"),
        fields=body.get("select"),
    )


@blp.route("/threads/<thread_id>/history", methods=["GET"])
@blp.arguments(ThreadHistoryQuerySchema, location="query")
def history_get(query: dict, thread_id: str) -> Any:
    """``GET`` form of the history: ``limit`` and ``before`` (a checkpoint id) only."""
    row = load_thread(thread_id)
    return _history(
        row,
        limit=query["limit"],
        before=query.get("before"),
        metadata=None,
        checkpoint=None,
        fields=None,
    )
