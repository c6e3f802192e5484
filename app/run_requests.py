"""From a run-create request (the body of ``POST …/runs``, a cron's payload, a canvas step) to
the ``NewRun`` the store inserts: the API, the cron scheduler and canvases all build runs here.

Every run option is defaulted and checked here, once, and stored in the run's ``kwargs`` as
the worker reads it (the worker defaults nothing again): ``stream_mode`` a list (default
``["values"]``), ``durability`` (default ``async``, or from the older ``checkpoint_during``),
``subgraphs`` a bool, ``checkpoint_id`` from either spelling, ``config.configurable.
run_timeout_seconds`` a positive number when given (without it the worker applies
``RUN_TIMEOUT_SECONDS``). The assistant's ``config`` and
``context`` are merged under the request's (the request wins, key by key, and
``configurable`` is merged one level down), as the official server shows them.

A ``webhook`` URL is checked when the run is created (``app.webhook_target.check_webhook_url``),
and again before each delivery (``app/webhooks.py``).
"""

from __future__ import annotations

import uuid

from app.errors import InvalidInput
from app.store.run_creation import NewRun
from app.webhook_target import check_webhook_url


def merge_config(assistant_config: dict, run_config: dict | None) -> dict:
    """The assistant's config overridden by the run's; ``configurable`` merged key by key."""
    config = {**assistant_config, **(run_config or {})}
    configurable = {
        **assistant_config.get("configurable", {}),
        **((run_config or {}).get("configurable") or {}),
    }
    if configurable:
        config["configurable"] = configurable
    return config


def build_run(assistant: dict, body: dict, thread_id: uuid.UUID | None) -> NewRun:
    """The run ``body`` asks of ``assistant`` (a row), with a new ``run_id``.

    Parameters:
        body: a loaded ``RunCreateSchema`` (or a cron's payload, the same fields).
        thread_id: the thread, or None for a stateless run on a new temporary thread.

    Raises:
        InvalidInput: a field that does not fit the kind of run (e.g. ``on_completion`` on a
            thread, ``checkpoint_id`` without one), a webhook URL refused.
    """
    stateless = thread_id is None
    if not stateless and "on_completion" in body:
        raise InvalidInput("on_completion applies to stateless runs (POST /runs) only")
    if stateless and "if_not_exists" in body:
        raise InvalidInput("if_not_exists applies to runs on a thread only")
    checkpoint_id = body.get("checkpoint_id") or (body.get("checkpoint") or {}).get("checkpoint_id")
    if stateless and checkpoint_id:
        raise InvalidInput("checkpoint_id needs a thread")
    durability = body.get("durability")
    if durability is None and "checkpoint_during" in body:
        durability = "async" if body["checkpoint_during"] else "exit"
    stream_mode = body.get("stream_mode") or ["values"]
    config = merge_config(assistant["config"], body.get("config"))
    timeout = config.get("configurable", {}).get("run_timeout_seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise InvalidInput("configurable.run_timeout_seconds must be a positive number of seconds")
    kwargs = {
        "input": body.get("input"),
        "command": body.get("command"),
        "config": config,
        "context": {**assistant["context"], **(body.get("context") or {})},
        "stream_mode": stream_mode if isinstance(stream_mode, list) else [stream_mode],
        "subgraphs": bool(body.get("stream_subgraphs", False)),
        "interrupt_before": body.get("interrupt_before"),
        "interrupt_after": body.get("interrupt_after"),
        "checkpoint_id": checkpoint_id,
        "durability": durability or "async",
        "temporary": stateless,
        "webhook": body.get("webhook"),
    }
    if body.get("webhook") is not None:
        check_webhook_url(body["webhook"])
    graph_id = assistant["graph_id"]
    assistant_id = assistant["assistant_id"]
    return NewRun(
        run_id=uuid.uuid4(),
        thread_id=uuid.uuid4() if stateless else thread_id,
        assistant_id=assistant_id,
        graph_id=graph_id,
        metadata={**(body.get("metadata") or {}), "assistant_id": str(assistant_id)},
        kwargs=kwargs,
        multitask_strategy=body.get("multitask_strategy", "enqueue"),
        temporary=stateless,
        on_completion=body.get("on_completion", "delete") if stateless else "keep",
        thread_metadata={"graph_id": graph_id, "assistant_id": str(assistant_id)},
        create_thread=body.get("if_not_exists") == "create",
        after_seconds=float(body.get("after_seconds") or 0),
    )
