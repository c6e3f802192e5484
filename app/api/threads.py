"""``/threads``: create, get, patch, delete, search, count, and the thread's state."""

from __future__ import annotations

import uuid
from typing import Any

from app import serde
from app.api import schemas
from app.api.common import Blueprint, dump_thread, select, services
from app.api.errors import parse_uuid
from app.errors import Conflict, NotFound
from app.store import threads as thread_store

blp = Blueprint("threads", __name__, description="Threads: the state a run accumulates")


def load_thread(thread_id: str) -> dict:
    """The thread row. Raises InvalidInput (bad UUID) or NotFound."""
    tid = parse_uuid(thread_id, "thread")
    row = thread_store.get(services().db, tid)
    if row is None:
        raise NotFound(f"Thread with ID {tid} not found")
    return row


@blp.route("/threads", methods=["POST"])
@blp.arguments(schemas.ThreadCreateSchema)
def create(body: dict) -> Any:
    svc = services()
    thread_id = body.get("thread_id") or uuid.uuid4()
    row = thread_store.insert(svc.db, thread_id, body.get("metadata"))
    if row is None:
        if body["if_exists"] == "do_nothing":
            existing = thread_store.get(svc.db, thread_id)
            if existing is not None:
                return dump_thread(existing)
        raise Conflict(f"Thread {thread_id} already exists")
    return dump_thread(row)


@blp.route("/threads/<thread_id>", methods=["GET"])
def get(thread_id: str) -> Any:
    return dump_thread(load_thread(thread_id))


@blp.route("/threads/<thread_id>", methods=["PATCH"])
@blp.arguments(schemas.ThreadPatchSchema)
def patch(body: dict, thread_id: str) -> Any:
    tid = parse_uuid(thread_id, "thread")
    row = thread_store.update(services().db, tid, body["metadata"])
    if row is None:
        raise NotFound(f"Thread with ID {tid} not found")
    return dump_thread(row)


@blp.route("/threads/<thread_id>", methods=["DELETE"])
def delete(thread_id: str) -> Any:
    svc = services()
    tid = parse_uuid(thread_id, "thread")
    if not thread_store.delete(svc.db, tid):
        raise NotFound(f"Thread with ID {tid} not found")
    return "", 204


@blp.route("/threads/search", methods=["POST"])
@blp.arguments(schemas.ThreadSearchSchema)
def search(body: dict) -> Any:
    rows = thread_store.search(
        services().db,
        status=body.get("status"),
        metadata=body.get("metadata"),
        ids=body.get("ids"),
        limit=body["limit"],
        offset=body["offset"],
        sort_by=body["sort_by"],
        sort_order=body["sort_order"],
    )
    return [select(dump_thread(r), body.get("select")) for r in rows]


@blp.route("/threads/count", methods=["POST"])
@blp.arguments(schemas.ThreadCountSchema)
def count(body: dict) -> Any:
    from flask import jsonify  # a bare int is not a valid Flask response

    return jsonify(
        thread_store.count(services().db, status=body.get("status"), metadata=body.get("metadata"))
    )


def _checkpoint(config: dict | None) -> dict | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
    }


def dump_state(snapshot: Any) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as the official ``ThreadState`` JSON."""
    checkpoint = _checkpoint(snapshot.config)
    parent = _checkpoint(snapshot.parent_config)
    interrupts = [
        {"value": i.value, "id": i.id} for task in snapshot.tasks for i in task.interrupts
    ]
    return serde.jsonable(
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": [
                {
                    "id": task.id,
                    "name": task.name,
                    "error": task.error,
                    "interrupts": [{"value": i.value, "id": i.id} for i in task.interrupts],
                    "checkpoint": None,
                    "state": None,
                    "result": getattr(task, "result", None),
                }
                for task in snapshot.tasks
            ],
            "metadata": snapshot.metadata or {},
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint,
            "parent_checkpoint": parent,
            "interrupts": interrupts,
            "checkpoint_id": checkpoint and checkpoint["checkpoint_id"],
            "parent_checkpoint_id": parent and parent["checkpoint_id"],
        }
    )


@blp.route("/threads/<thread_id>/state", methods=["GET"])
def get_state(thread_id: str) -> Any:
    svc = services()
    row = load_thread(thread_id)
    config = {"configurable": {"thread_id": str(row["thread_id"])}}
    graph_id = row["metadata"].get("graph_id")
    if graph_id not in svc.registry:
        return {
            "values": {},
            "next": [],
            "tasks": [],
            "metadata": {},
            "created_at": None,
            "checkpoint": {
                "thread_id": str(row["thread_id"]),
                "checkpoint_ns": "",
                "checkpoint_id": None,
            },
            "parent_checkpoint": None,
            "interrupts": [],
            "checkpoint_id": None,
            "parent_checkpoint_id": None,
        }
    graph = svc.registry.get(graph_id).graph.copy(update={"checkpointer": svc.saver})
    return dump_state(graph.get_state(config))
