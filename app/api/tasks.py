"""Celery-style tasks (the ``callboard`` client): a task run by id alone, canvases.

- ``GET /tasks/runs/<run_id>``: the run (as ``GET /threads/…/runs/…``, plus ``retries``,
  ``error`` and ``ended_at``) without knowing its thread; 404 while a canvas step is not created.
- ``DELETE /tasks/runs/<run_id>``: delete a finished task run with its temporary thread and
  result (``AsyncResult.forget``); 409 while it is pending or running.
- ``POST /tasks/canvas``: create a chain, group or chord in one transaction (``app.canvas``);
  answers ``{"runs": [{"run_id", "thread_id"}]}`` in signature order (``thread_id`` null for a
  step created later).

A single task call is a plain ``POST /runs`` with the task's name as ``assistant_id``.
"""

from __future__ import annotations

from typing import Any

from flask import request

from app import canvas
from app.api.access import authorize
from app.api.common import Blueprint, dump_run, iso, services
from app.api.errors import parse_uuid
from app.api.threads import check_thread
from app.errors import Conflict, InvalidInput, NotFound
from app.queue import run_queue, send_execute_run, start_delay
from app.runs import RunStatus
from app.store import canvas as canvas_store
from app.store import threads as thread_store

blp = Blueprint("tasks", __name__, description="Celery-style tasks: runs by id, canvases")


def dump_task_run(row: dict) -> dict[str, Any]:
    return {
        **dump_run(row),
        "retries": row["retries"],
        "error": row["error"],
        "ended_at": iso(row["ended_at"]),
    }


def _load(run_id: str, auth_action: str = "read") -> dict:
    """The run, once ``threads.<auth_action>`` is authorized on its thread (``app.api.access``):
    a run the auth filter excludes is a 404 like a missing one."""
    row = canvas_store.get_run(services().db, parse_uuid(run_id, "run"))
    if row is None:
        raise NotFound(f"Run {run_id} not found")
    check_thread(row["thread_id"], auth_action, run_id=row["run_id"])
    return row


@blp.route("/tasks/runs/<run_id>", methods=["GET"])
def get_task_run(run_id: str) -> Any:
    return dump_task_run(_load(run_id))


@blp.route("/tasks/runs/<run_id>", methods=["DELETE"])
def forget_task_run(run_id: str) -> Any:
    row = _load(run_id, "delete")
    if not RunStatus(row["status"]).terminal:
        raise Conflict(f"Run {run_id} is {row['status']}: revoke it first")
    if not row["temporary"]:
        raise InvalidInput(f"Run {run_id} is on a thread of its own: delete the thread instead")
    thread_store.delete(services().db, row["thread_id"])
    return "", 204


@blp.route("/tasks/canvas", methods=["POST"])
def create_canvas() -> Any:
    spec = request.get_json(silent=True)
    canvas.check(spec)
    # a handler may refuse; a canvas's runs carry no stamp of the handler (README, "Auth")
    authorize("threads", "create_run", {"thread_id": None, "metadata": {}, "kwargs": {}})
    svc = services()

    def work(conn: Any) -> tuple[list[dict], list[dict]]:
        with conn.transaction():
            return canvas.create_in(conn, spec, svc.registry.tasks)

    answer, created = svc.db.run(work, "create_canvas")
    for row in created:  # after COMMIT
        send_execute_run(
            svc.actor, row["run_id"], row["version"], start_delay(row), queue=run_queue(row)
        )
    return {"runs": answer}
