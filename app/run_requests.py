"""From a run-create request (the body of ``POST …/runs``, or a cron's payload) to the run row's
fields: what the API and the cron scheduler both insert.

The assistant's ``config`` and ``context`` are merged under the request's (the request wins,
key by key, and ``configurable`` is merged one level down), and the result is stored in the
run's ``kwargs`` as the official server shows it.

A ``webhook`` URL is checked here, when the run is created (``check_webhook_url``), and again
before each delivery (``workers/webhooks.py``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from typing import Any
from urllib.parse import urlsplit

from app.errors import InvalidInput

# CALLBOARD_WEBHOOK_ALLOW_PRIVATE=1 lets webhooks reach loopback, private, link-local and other
# non-public addresses (a receiver on the same host or network, the tests' one on 127.0.0.1)
ALLOW_PRIVATE_ENV = "CALLBOARD_WEBHOOK_ALLOW_PRIVATE"
MAX_WEBHOOK_URL_LENGTH = 4096  # as the official server


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


def build_run(assistant: dict, body: dict, thread_id: uuid.UUID | None) -> dict[str, Any]:
    """Keyword arguments of ``app.store.runs.insert`` for a run of ``assistant`` (a row).

    Parameters:
        body: a loaded ``RunCreateSchema`` (or a cron's payload, the same fields).
        thread_id: the thread, or None for a stateless run on a new temporary thread.

    Raises:
        InvalidInput: a field that does not fit the kind of run (e.g. ``on_completion`` on a
            thread, ``checkpoint_id`` without one).
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
    kwargs = {
        "input": body.get("input"),
        "command": body.get("command"),
        "config": merge_config(assistant["config"], body.get("config")),
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
    strategy = body.get("multitask_strategy", "enqueue")
    return {
        "run_id": uuid.uuid4(),
        "thread_id": uuid.uuid4() if stateless else thread_id,
        "assistant_id": assistant_id,
        "graph_id": graph_id,
        "metadata": {**(body.get("metadata") or {}), "assistant_id": str(assistant_id)},
        "kwargs": kwargs,
        "multitask_strategy": strategy,
        "temporary": stateless,
        "on_completion": body.get("on_completion", "delete") if stateless else "keep",
        "thread_metadata": {"graph_id": graph_id, "assistant_id": str(assistant_id)},
        # kept for callers that insert with their own SQL; app.store.runs reads the strategy
        "reject_if_busy": strategy == "reject",
        "create_thread": body.get("if_not_exists") == "create",
        "after_seconds": float(body.get("after_seconds") or 0),
    }


def private_webhooks_allowed(env: dict[str, str] | None = None) -> bool:
    """``CALLBOARD_WEBHOOK_ALLOW_PRIVATE`` is set to 1/true/yes (read at each call)."""
    value = (os.environ if env is None else env).get(ALLOW_PRIVATE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def check_webhook_url(url: str, *, allow_private: bool | None = None) -> None:
    """Refuse a webhook URL that Callboard must not POST to.

    Accepted: an absolute ``http``/``https`` URL (at most 4096 characters) whose host resolves,
    and only to public addresses: loopback, private (RFC 1918, RFC 4193), link-local (cloud
    metadata services), shared, reserved, documentation, unspecified and multicast addresses are
    refused, unless ``allow_private`` (default: ``CALLBOARD_WEBHOOK_ALLOW_PRIVATE``). The host is
    resolved with the system resolver (``getaddrinfo``): every address it returns must pass.

    Raises:
        InvalidInput: why the URL is refused (the message names the webhook).
    """
    if allow_private is None:
        allow_private = private_webhooks_allowed()
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise InvalidInput(f"webhook: URL longer than {MAX_WEBHOOK_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"webhook: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("webhook: the URL must be absolute and use http or https")
    host = parts.hostname
    if not host:
        raise InvalidInput("webhook: the URL has no host")
    if port == 0:
        raise InvalidInput("webhook: port 0 is not a port to POST to")
    default_port = 443 if parts.scheme.lower() == "https" else 80
    try:
        infos = socket.getaddrinfo(host, port or default_port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidInput(f"webhook: cannot resolve host {host!r} ({exc})") from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not _public(address):
            raise InvalidInput(
                f"webhook: host {host!r} resolves to a non-public address ({address}); set "
                f"{ALLOW_PRIVATE_ENV}=1 to allow loopback and private addresses"
            )


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
