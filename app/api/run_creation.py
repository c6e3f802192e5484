"""Creating runs: on a thread, stateless, as a batch, and the ``/wait`` variants.

One way for every route (and the thread protocol's ``run.input``, ``app.api.thread_commands``,
and ``/stream``, ``app.api.streams``): ``new_run`` builds the run from the request
(``app.run_requests.build_run``: every option defaulted and checked there), authorized, with
the default thread TTL and a task's options; ``app.store.run_creation.create`` inserts it in one
INSERT or one short transaction (double texting, thread creation, delayed start,
Idempotency-Key), so the run is durable once the request answers. What follows the COMMIT (the
wake-up message, the cancels of superseded runs: ``after_create``) is sent after it; if Redis is
down the answer is still 200 and the sweeper and the workers' lease checks catch up.

``Idempotency-Key`` (header, 1-255 printable ASCII characters) on ``POST /threads/{id}/runs``,
``POST /runs`` and their ``/wait`` and ``/stream`` variants: a retry with the same key and the
same request (target thread and JSON body; the variant may differ) gets the first request's run
and creates nothing; the same key with a different request is a 422. Keys are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from flask import request

from app.api.access import authorized_run, user_identity
from app.api.common import Blueprint, dump_run, request_json, resolve_assistant, services
from app.api.errors import parse_uuid
from app.api.runs import announce, wait_response
from app.api.threads import with_default_ttl
from app.errors import InvalidInput
from app.queue import run_queue, send_execute_run
from app.schemas.runs import (
    RunBatchItemSchema,
    RunCreateSchema,
    RunWaitSchema,
)
from app.store import run_creation
from app.store.run_creation import Created, IdempotencyKey, NewRun
from app.tasks import prepare_run as prepare_task_run

blp = Blueprint("run_creation", __name__, description="Runs: creating them")

IDEMPOTENCY_HEADER = "Idempotency-Key"


def new_run(assistant: dict, body: dict, thread_id: uuid.UUID | None) -> NewRun:
    """The run ``body`` (a ``RunCreateSchema`` load) asks of ``assistant`` (a row), once the auth
    handler allowed it, with the default TTL of a thread it creates and, for a Celery-style
    task, the task's options (``app.tasks``). ``thread_id`` None = a stateless run.

    Raises:
        InvalidInput: as ``build_run``. NotFound, AuthError: as ``authorized_run``.
    """
    new = with_default_ttl(authorized_run(assistant, body, thread_id))
    prepare_task_run(services().registry.tasks, new.graph_id, new.kwargs)
    return new


def create_run(thread_id: uuid.UUID | None, body: dict) -> dict:
    """Insert the run ``body`` (a ``RunCreateSchema`` load) asks for, then (after COMMIT) cancel
    the runs it supersedes and send its message; returns its row. With an ``Idempotency-Key``
    header, a retry gets the first request's run back.

    ``thread_id`` None = a stateless run on a new temporary thread.

    Raises:
        NotFound: unknown assistant or thread. InvalidInput: bad combination of fields, bad
        webhook URL, Idempotency-Key reused with another request.
        Conflict: multitask_strategy "reject" on a busy thread.
    """
    new = new_run(resolve_assistant(body["assistant_id"]), body, thread_id)
    target = {"thread_id": str(thread_id) if thread_id else None}
    return create_runs([(new, _idempotency_key(target, request_json()))])[0]


def create_runs(runs: list[tuple[NewRun, IdempotencyKey | None]]) -> list[dict]:
    """Insert ``runs``, all or none (``app.store.run_creation.create``), then do each one's
    ``after_create``; returns their rows in order."""
    created = run_creation.create(services().db, runs)
    for one, (new, _) in zip(created, runs, strict=True):
        after_create(one, new)
    return [one.row for one in created]


def _idempotency_key(target: dict[str, Any], body: Any, suffix: str = "") -> IdempotencyKey | None:
    """The request's ``Idempotency-Key`` (plus ``suffix``), fingerprinted with ``target`` (what
    the path names) and ``body`` (the JSON the client sent); None without the header. With auth
    on, keys are per user (prefixed with a digest of the identity): one user's key never
    answers another user's run.

    Raises:
        InvalidInput: an empty, too long or non-ASCII key.
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= c <= "~" for c in key):
        raise InvalidInput(f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters")
    identity = user_identity()
    if identity is not None:
        key = f"{hashlib.sha256(identity.encode()).hexdigest()[:16]}:{key}"
    return IdempotencyKey.of(key + suffix, {**target, "body": body})


def after_create(created: Created, new: NewRun) -> None:
    """After COMMIT: stop what the run supersedes, send its (possibly delayed) message; nothing
    for a replayed Idempotency-Key."""
    if created.replayed:
        return
    svc = services()
    if created.superseded is not None:
        announce(created.superseded, wake=False)
    row = created.row
    send_execute_run(
        svc.actor, row["run_id"], row["version"], new.after_seconds, queue=run_queue(row)
    )


def _location(row: dict) -> dict[str, str]:
    return {
        "Location": f"/threads/{row['thread_id']}/runs/{row['run_id']}",
        "Content-Location": f"/threads/{row['thread_id']}/runs/{row['run_id']}",
    }


@blp.route("/threads/<thread_id>/runs", methods=["POST"])
@blp.arguments(RunCreateSchema)
def create_on_thread(body: dict, thread_id: str) -> Any:
    row = create_run(parse_uuid(thread_id, "thread"), body)
    return dump_run(row), 200, _location(row)


@blp.route("/runs", methods=["POST"])
@blp.arguments(RunCreateSchema)
def create_stateless(body: dict) -> Any:
    row = create_run(None, body)
    return dump_run(row), 200, _location(row)


@blp.route("/threads/<thread_id>/runs/wait", methods=["POST"])
@blp.arguments(RunWaitSchema)
def wait_on_thread(body: dict, thread_id: str) -> Any:
    """Create a run on the thread and answer its output when it ends."""
    body.pop("raise_error", None)
    return wait_response(create_run(parse_uuid(thread_id, "thread"), body), body)


@blp.route("/runs/wait", methods=["POST"])
@blp.arguments(RunWaitSchema)
def wait_stateless(body: dict) -> Any:
    """Create a stateless run and answer its output when it ends."""
    body.pop("raise_error", None)
    return wait_response(create_run(None, body), body)


@blp.route("/runs/batch", methods=["POST"])
@blp.arguments(RunBatchItemSchema(many=True))
def create_batch(items: list[dict]) -> Any:
    """Create several runs, all or none (``langgraph_sdk`` ``runs.create_batch``): every item is
    validated (schema, assistant, thread, webhook) before anything is written, and all runs are
    inserted in one transaction. An item without ``thread_id`` is a stateless run. With an
    ``Idempotency-Key``, item ``i`` is keyed ``<key>#<i>`` (fingerprinted with its index and the
    batch's length), so a retried batch gets the same runs. Plain enqueues on existing threads
    are inserted by one statement (``app.store.run_batches``)."""
    svc = services()
    if not items or len(items) > svc.settings.max_batch_runs:
        raise InvalidInput(
            f"a batch holds 1 to {svc.settings.max_batch_runs} runs "
            f"(CALLBOARD_MAX_BATCH_RUNS), got {len(items)}"
        )
    sent = request_json()
    runs = []
    assistants: dict[str, dict] = {}  # one lookup per assistant of the batch
    for index, item in enumerate(items):
        body = {k: v for k, v in item.items() if k != "thread_id"}
        thread_id = item.get("thread_id")
        name = str(body["assistant_id"])
        if name not in assistants:
            assistants[name] = resolve_assistant(name)
        new = new_run(assistants[name], body, thread_id)
        target = {"thread_id": str(thread_id) if thread_id else None, "batch": [index, len(items)]}
        runs.append((new, _idempotency_key(target, sent[index], f"#{index}")))
    return [dump_run(row) for row in create_runs(runs)]
