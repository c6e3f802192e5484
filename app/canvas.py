"""Celery's canvas on Callboard runs: chains, groups and chords whose links live in Postgres.

A canvas spec (the body of ``POST /tasks/canvas``, made by ``callboard.canvas``)::

    {"chain": [sig, ...]} | {"group": [sig, ...]} | {"chord": {"header": [sig, ...], "body": sig}}
    sig = {"task": name, "input": {"args": [...], "kwargs": {...}}, "config"?: {...},
           "after_seconds"?: seconds}

``create_in`` creates it inside one transaction: runs that can start at once are created
(``app.store.run_creation.create_in``, the one way runs are created); a chain's later steps and
a chord's callback become *deferred runs* with their ids chosen now. ``release_in`` runs inside the
transaction that finishes a linked run with success: it counts the run down in the deferred
runs waiting for it and creates those now due, in that same transaction. So a chain's next step
exists if and only if the step before it succeeded, and a chord's callback is created exactly
once: the members' finishes serialize on the callback's row, and a member that crashes before
its finish commits has created nothing (its next attempt finishes it).

``fail_in`` runs instead when a linked run ends without success (error, timeout, revoked): the
runs waiting for it are created already failed, in that same transaction, and their deferred rows
deleted, as Celery 5 does (``celery.backends.base.Backend.mark_as_failure``): the later steps of
a chain never run and fail with the step's own error; a chord's callback never runs and fails
with a ``ChordError`` naming the member (Celery: "Dependency <id> raised <exc>").
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

from app.errors import InvalidInput, NotFound
from app.run_requests import build_run
from app.store import canvas as canvas_store
from app.store import run_creation
from app.store.assistants import default_assistant_id
from app.store.run_creation import NewRun
from app.tasks import prepare_run

MAX_CANVAS_RUNS = 1000
CHORD_ERROR = "ChordError"  # Celery's celery.exceptions.ChordError

logger = logging.getLogger(__name__)


def check(spec: Any) -> list[dict]:
    """The signatures of a canvas spec, in creation order (the order ``create_in`` answers).

    Raises:
        InvalidInput: not one of the shapes above (the message says what is wrong)."""
    if not isinstance(spec, dict) or len(spec) != 1:
        raise InvalidInput(
            'a canvas is one of {"chain": [...]}, {"group": [...]}, {"chord": {...}}'
        )
    ((kind, value),) = spec.items()
    if kind in ("chain", "group"):
        sigs = value
    elif kind == "chord":
        if not isinstance(value, dict) or set(value) != {"header", "body"}:
            raise InvalidInput('a chord is {"header": [sig, ...], "body": sig}')
        if not isinstance(value["header"], list):
            raise InvalidInput("a chord's header is a list of signatures")
        sigs = [*value["header"], value["body"]]
    else:
        raise InvalidInput(f"unknown canvas {kind!r}: expected chain, group or chord")
    if not isinstance(sigs, list) or not sigs or len(sigs) > MAX_CANVAS_RUNS:
        raise InvalidInput(f"a {kind} holds 1 to {MAX_CANVAS_RUNS} signatures")
    for sig in sigs:
        _check_sig(sig)
    return sigs


def _check_sig(sig: Any) -> None:
    if not isinstance(sig, dict) or not isinstance(sig.get("task"), str):
        raise InvalidInput('a signature is {"task": name, "input": {"args", "kwargs"}}')
    unknown = set(sig) - {"task", "input", "config", "after_seconds"}
    if unknown:
        raise InvalidInput(f"unknown signature field(s): {', '.join(sorted(unknown))}")
    delay = sig.get("after_seconds") or 0
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise InvalidInput("after_seconds must be a number >= 0")
    if sig.get("config") is not None and not isinstance(sig["config"], dict):
        raise InvalidInput("config must be an object")
    run_input = sig.get("input")
    if run_input is not None and (
        not isinstance(run_input, dict)
        or set(run_input) - {"args", "kwargs"}
        or not isinstance(run_input.get("args", []), list)
        or not isinstance(run_input.get("kwargs", {}), dict)
    ):
        raise InvalidInput(
            f'the input of {sig["task"]!r} must be {{"args": [...], "kwargs": {{...}}}}'
        )


def new_run(
    conn: Any, sig: dict, run_id: uuid.UUID, tasks: dict[str, Any], *, links: bool
) -> NewRun:
    """The run of ``sig`` with id ``run_id`` (a stateless run kept after it ends), its task's
    options applied; ``links``: runs wait for it (its finish calls ``release_in``).

    Raises:
        NotFound: no task (graph) of that name has an assistant in this database.
        InvalidInput: the input is not ``{"args", "kwargs"}``."""
    assistant = canvas_store.get_assistant_in(conn, default_assistant_id(sig["task"]))
    if assistant is None:
        raise NotFound(f"Task {sig['task']!r} not found (is its module in langgraph.json tasks?)")
    body: dict[str, Any] = {
        "assistant_id": sig["task"],
        "input": sig.get("input") or {"args": [], "kwargs": {}},
        "on_completion": "keep",
        "after_seconds": float(sig.get("after_seconds") or 0),
    }
    if sig.get("config"):
        body["config"] = sig["config"]
    new = dataclasses.replace(build_run(assistant, body, None), run_id=run_id)
    prepare_run(tasks, new.graph_id, new.kwargs)
    if links:
        new.kwargs["links"] = True
    return new


def create_in(conn: Any, spec: dict, tasks: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Create the canvas ``spec`` inside the caller's transaction on ``conn``.

    Returns (``[{"run_id", "thread_id"}]`` per signature in ``check``'s order, ``thread_id``
    None for a deferred run; the rows of the runs created now, to wake after COMMIT).

    Raises:
        InvalidInput, NotFound: as ``check`` and ``new_run``."""
    sigs = check(spec)
    ids = [uuid.uuid4() for _ in sigs]
    kind = next(iter(spec))
    created: list[dict] = []
    if kind == "group":
        for sig, run_id in zip(sigs, ids, strict=True):
            created.append(_create(conn, new_run(conn, sig, run_id, tasks, links=False)))
    elif kind == "chain":
        created.append(_create(conn, new_run(conn, sigs[0], ids[0], tasks, links=len(sigs) > 1)))
        for index in range(1, len(sigs)):
            new_run(conn, sigs[index], ids[index], tasks, links=False)  # refused now, not later
            request = {"sig": sigs[index], "links": index < len(sigs) - 1}
            canvas_store.insert_deferred(conn, ids[index], request, 1, "chain")
            canvas_store.link(conn, ids[index - 1], ids[index])
    else:  # chord: the callback is recorded before its members can end
        *members, body = sigs
        callback = ids[-1]
        new_run(conn, body, callback, tasks, links=False)  # an unknown task is refused now
        canvas_store.insert_deferred(
            conn, callback, {"sig": body, "links": False}, len(members), "chord"
        )
        for position, (sig, run_id) in enumerate(zip(members, ids, strict=False)):
            canvas_store.link(conn, run_id, callback, position)
            created.append(_create(conn, new_run(conn, sig, run_id, tasks, links=True)))
    threads = {row["run_id"]: str(row["thread_id"]) for row in created}
    answer = [{"run_id": str(i), "thread_id": threads.get(i)} for i in ids]
    return answer, created


def _create(conn: Any, new: NewRun) -> dict:
    return run_creation.create_in(conn, new).row


def release_in(conn: Any, finished: dict, tasks: dict[str, Any]) -> list[dict]:
    """Inside the transaction that finished the linked run ``finished`` (a row) with success:
    create the deferred runs it was the last to wait for. Returns their rows (to wake after
    COMMIT)."""
    created = []
    for deferred in canvas_store.record_result(conn, finished["run_id"], finished["output"]):
        if deferred["waiting_for"] != 0:
            continue
        request = deferred["request"]
        sig = dict(request["sig"])
        results = canvas_store.link_results(conn, deferred["run_id"])
        first = results[0] if deferred["kind"] == "chain" else results
        run_input = dict(sig.get("input") or {})
        run_input["args"] = [first, *(run_input.get("args") or [])]
        sig["input"] = run_input
        new = new_run(conn, sig, deferred["run_id"], tasks, links=bool(request.get("links")))
        created.append(_create(conn, new))
    return created


def fail_in(conn: Any, finished: dict, tasks: dict[str, Any]) -> list[dict]:
    """Inside the transaction that finished the linked run ``finished`` (a row) without success:
    create every run still waiting for it, directly or down its chain, as a failed run (status
    ``error``; a chain step gets the failed run's error, a chord's callback a ``ChordError``), and
    delete their deferred rows. Returns the failed rows (nothing to wake: they never run)."""
    cause = finished.get("error") or {
        "error": "TaskRevokedError" if finished["status"] == "interrupted" else "TaskError",
        "message": f"run {finished['run_id']} ended {finished['status']}",
    }
    failed = []
    frontier = [(finished["run_id"], cause)]
    while frontier:
        run_id, error = frontier.pop()
        for deferred in canvas_store.drop_deferred(conn, run_id):
            if deferred["kind"] == "chord":
                name, message = error.get("error"), error.get("message")
                error = {
                    "error": CHORD_ERROR,
                    "message": f"Dependency {run_id} raised {name}({message!r})",
                }
            row = _create_failed(conn, deferred, error, tasks)
            if row is not None:
                failed.append(row)
            frontier.append((deferred["run_id"], error))
    return failed


def _create_failed(conn: Any, deferred: dict, error: dict, tasks: dict[str, Any]) -> dict | None:
    try:
        new = new_run(conn, deferred["request"]["sig"], deferred["run_id"], tasks, links=False)
    except (NotFound, InvalidInput) as exc:  # its task was deleted since: nothing to show it on
        logger.warning("deferred run %r dropped: %s", str(deferred["run_id"]), exc)
        return None
    _create(conn, new)
    return canvas_store.fail_created(conn, deferred["run_id"], error)
