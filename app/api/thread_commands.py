"""Commands of the thread-streaming protocol (``langchain_protocol``), shared by
``POST /threads/{thread_id}/commands`` and the WebSocket transport (``app/api/thread_stream.py``).

A command is ``{"id": <int>, "method": <str>, "params": {...}}``; the answer is
``{"type": "success", "id", "result", "meta": {"applied_through_seq"}}`` or ``{"type":
"error", "id", "error": <ErrorCode>, "message"}``, as the official server answers
(``langgraph_api/event_streaming/service.py``). Methods:

- ``run.start`` ``{assistant_id, input?, config?, metadata?, multitaskStrategy?}``: a run on the
  thread, which is created when missing (the SDK mints the thread id); ``result.run_id``. On a
  thread stopped at an interrupt, ``input`` is the resume value (``Command(resume=input)``).
- ``input.respond`` ``{namespace, interrupt_id, response, update?, goto?, config?, metadata?}``
  or ``{responses: [{namespace, interrupt_id, response}], ...}``: resumes the thread's pending
  interrupts with a new run (LangGraph ``Command(resume={interrupt_id: response})``).
- ``subscription.subscribe`` / ``subscription.unsubscribe``: on HTTP a subscription is the SSE
  connection itself, so these only validate and answer (the WebSocket transport keeps them).
- ``subscription.reconnect``: on a WebSocket, restores subscriptions and replays what they
  missed (``app/api/thread_subscriptions.py``); on HTTP there is no connection to restore them
  to (an SSE stream resumes with ``since``), so the official form (``channels`` + ``since``) is
  checked and answered ``replayed_events: 0`` and ``ReconnectParams`` ``restored: false``.
- ``agent.getTree``: the root node of the thread's latest protocol run.

``applied_through_seq`` is the thread's last event seq before the command took effect: the SDK
resumes its streams after it, so a stream opened after ``run.start`` still gets the whole run.
"""

from __future__ import annotations

import uuid
from typing import Any

from marshmallow import ValidationError

from app import protocol_stream
from app.api.access import AuthError
from app.api.common import resolve_assistant, services
from app.api.run_creation import after_create, new_run
from app.errors import Conflict, InvalidInput, NotFound
from app.schemas.runs import (
    RunCreateSchema,
)
from app.store import run_creation
from app.store import runs as run_store
from app.store import threads as thread_store

SUPPORTED_CHANNELS = frozenset(
    {
        "values",
        "updates",
        "checkpoints",
        "messages",
        "tools",
        "custom",
        "lifecycle",
        "input",
        "tasks",
    }
)
MULTITASK_STRATEGIES = ("reject", "interrupt", "rollback", "enqueue")


class ProtocolError(Exception):
    """A command refused with a protocol ``ErrorCode`` (``invalid_argument``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_supported_channel(channel: Any) -> bool:
    """A ``Channel`` of the protocol: the fixed names, or ``custom:<name>``."""
    if not isinstance(channel, str):
        return False
    return channel in SUPPORTED_CHANNELS or (channel.startswith("custom:") and len(channel) > 7)


def subscription_params(params: Any) -> dict[str, Any]:
    """A ``SubscribeParams``/``EventStreamRequest`` checked: ``{"channels", "namespaces"?,
    "depth"?, "since"?}``.

    Raises:
        ProtocolError: ``invalid_argument`` for missing or unsupported channels, a malformed
            namespace list, a negative depth or since.
    """
    if not isinstance(params, dict):
        raise ProtocolError("invalid_argument", "the subscription must be a JSON object")
    channels = params.get("channels")
    if not isinstance(channels, list) or not channels:
        raise ProtocolError(
            "invalid_argument", "channels is required and must be a non-empty array"
        )
    bad = [c for c in channels if not is_supported_channel(c)]
    if bad:
        raise ProtocolError(
            "invalid_argument",
            f"channels contains unsupported entries: {bad[:5]}. Allowed: "
            f"{', '.join(sorted(SUPPORTED_CHANNELS))}, or any `custom:<name>`.",
        )
    out: dict[str, Any] = {"channels": list(channels)}
    namespaces = params.get("namespaces")
    if namespaces is not None:
        if not isinstance(namespaces, list) or not all(
            isinstance(ns, list) and all(isinstance(s, str) for s in ns) for ns in namespaces
        ):
            raise ProtocolError("invalid_argument", "namespaces must be a list of string lists")
        out["namespaces"] = namespaces
    for name in ("depth", "since"):
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProtocolError("invalid_argument", f"{name} must be a non-negative integer")
        out[name] = value
    return out


def success(command_id: Any, result: dict[str, Any], seq: int) -> dict[str, Any]:
    return {
        "type": "success",
        "id": command_id if isinstance(command_id, int) else 0,
        "result": result,
        "meta": {"applied_through_seq": seq},
    }


def error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "id": command_id if isinstance(command_id, int) else None,
        "error": code,
        "message": message,
    }


def check_envelope(payload: Any) -> dict[str, Any] | None:
    """None for a well-formed command, else the ``invalid_argument`` answer."""
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("id"), int)
        and not isinstance(payload.get("id"), bool)
        and isinstance(payload.get("method"), str)
    ):
        return None
    return error(
        payload.get("id") if isinstance(payload, dict) else None,
        "invalid_argument",
        "Protocol commands must include an integer id and string method.",
    )


def handle(thread_id: uuid.UUID, command: dict[str, Any]) -> dict[str, Any]:
    """Run one well-formed command on the thread; the answer (never raises for the client's
    mistakes)."""
    command_id, method = command["id"], command["method"]
    params = command.get("params")
    params = params if isinstance(params, dict) else {}
    redis = services().redis
    try:
        if method == "run.start":
            run_id, seq = _start_run(thread_id, params)
            return success(command_id, {"run_id": str(run_id)}, seq)
        if method == "input.respond":
            run_id, seq = _respond(thread_id, params)
            return success(command_id, {"run_id": str(run_id)}, seq)
        seq = protocol_stream.current_seq(redis, thread_id)
        if method == "subscription.subscribe":
            subscription_params(params)
            return success(
                command_id, {"subscription_id": str(uuid.uuid4()), "replayed_events": 0}, seq
            )
        if method == "subscription.unsubscribe":
            if not isinstance(params.get("subscription_id"), str):
                raise ProtocolError("invalid_argument", "subscription_id is required")
            return success(command_id, {}, seq)
        if method == "subscription.reconnect":
            if "channels" not in params:
                return success(command_id, {"restored": False, "missed_events": 0}, seq)
            if "since" not in subscription_params(params):
                raise ProtocolError("invalid_argument", "subscription.reconnect requires since")
            sub_id = params.get("subscription_id")
            sub_id = sub_id if isinstance(sub_id, str) and sub_id else str(uuid.uuid4())
            return success(command_id, {"subscription_id": sub_id, "replayed_events": 0}, seq)
        if method == "agent.getTree":
            return success(command_id, {"tree": _tree(thread_id)}, seq)
        return error(command_id, "unknown_command", f"Unknown protocol command: {method}")
    except ProtocolError as exc:
        return error(command_id, exc.code, str(exc))
    except ValidationError as exc:
        return error(command_id, "invalid_argument", str(exc.messages))
    except (InvalidInput, Conflict) as exc:
        return error(command_id, "invalid_argument", str(exc))
    except NotFound as exc:
        return error(command_id, "no_such_run", str(exc))
    except AuthError as exc:  # the auth handler refused the run (app/auth.py)
        return error(command_id, "permission_denied", exc.detail)


def _insert_protocol_run(thread_id: uuid.UUID, body: dict[str, Any]) -> tuple[uuid.UUID, int]:
    """Insert a run of ``body`` (a run-create body) marked as a protocol run, then send it."""
    svc = services()
    loaded = RunCreateSchema().load(body)
    assistant = resolve_assistant(loaded["assistant_id"])
    new = new_run(assistant, loaded, thread_id)
    new.kwargs["protocol"] = "v3"
    seq = protocol_stream.mark_run_start(svc.redis, thread_id, new.run_id)
    try:
        [created] = run_creation.create(svc.db, [(new, None)])
    except Exception:
        svc.redis.delete(protocol_stream.run_key(new.run_id))
        raise
    after_create(created, new)
    return created.row["run_id"], seq


def _strategy(params: dict[str, Any]) -> str:
    strategy = params.get("multitaskStrategy", params.get("multitask_strategy"))
    return strategy if strategy in MULTITASK_STRATEGIES else "enqueue"


def _start_run(thread_id: uuid.UUID, params: dict[str, Any]) -> tuple[uuid.UUID, int]:
    assistant_id = params.get("assistant_id")
    if not isinstance(assistant_id, str) or not assistant_id:
        raise ProtocolError("invalid_argument", "run.start requires an assistant_id.")
    body: dict[str, Any] = {
        "assistant_id": assistant_id,
        "if_not_exists": "create",
        "multitask_strategy": _strategy(params),
    }
    thread = thread_store.get(services().db, thread_id)
    if thread is not None and thread.get("status") == "interrupted" and thread.get("interrupts"):
        # the input of a run on a thread stopped at an interrupt resumes it, as the official
        # server does (RemoteGraph sends Command(resume=...) as the bare resume value)
        body["command"] = {"resume": params.get("input")}
    else:
        body["input"] = params.get("input")
    for name in ("config", "metadata"):
        if params.get(name) is not None:
            body[name] = params[name]
    return _insert_protocol_run(thread_id, body)


def _respond(thread_id: uuid.UUID, params: dict[str, Any]) -> tuple[uuid.UUID, int]:
    entries = params.get("responses")
    if entries is None:
        entries = [params]
    if not isinstance(entries, list) or not entries:
        raise ProtocolError("invalid_argument", "input.respond needs a response")
    thread = thread_store.get(services().db, thread_id)
    if thread is None:
        raise ProtocolError("no_such_run", f"Thread with ID {thread_id} not found")
    pending = {
        item.get("id")
        for items in (thread.get("interrupts") or {}).values()
        for item in items or ()
        if isinstance(item, dict)
    }
    resume: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("interrupt_id"), str):
            raise ProtocolError("invalid_argument", "each response needs an interrupt_id")
        if entry["interrupt_id"] not in pending:
            raise ProtocolError(
                "no_such_interrupt", f"no pending interrupt {entry['interrupt_id']!r}"
            )
        resume[entry["interrupt_id"]] = entry.get("response")
    command: dict[str, Any] = {"resume": resume}
    for name in ("update", "goto"):
        if params.get(name) is not None:
            command[name] = params[name]
    assistant_id = (thread.get("metadata") or {}).get("assistant_id")
    if not assistant_id:
        raise ProtocolError("no_such_run", "the thread has no run to resume")
    body: dict[str, Any] = {
        "assistant_id": str(assistant_id),
        "command": command,
        "multitask_strategy": "enqueue",
    }
    for name in ("config", "metadata"):
        if params.get(name) is not None:
            body[name] = params[name]
    return _insert_protocol_run(thread_id, body)


def _tree(thread_id: uuid.UUID) -> dict[str, Any]:
    """``AgentTreeNode`` of the root graph: the latest run's graph and status."""
    runs = run_store.list_for_thread(services().db, thread_id, status=None, limit=1, offset=0)
    if not runs:
        raise ProtocolError("no_such_run", f"no run on thread {thread_id}")
    run = runs[0]
    status = {
        "pending": "started",
        "running": "running",
        "success": "completed",
        "error": "failed",
        "timeout": "failed",
        "interrupted": "interrupted",
    }.get(run["status"], "running")
    return {"namespace": [], "status": status, "graph_name": run["graph_id"], "children": []}
