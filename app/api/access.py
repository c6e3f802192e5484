"""Auth in the API: the ``before_request`` hook that authenticates every request, and the calls
the views make to authorize an action (``app/auth.py`` has the semantics).

Every route is authenticated except ``app.auth.PUBLIC_PATHS`` and CORS preflights: a route added
later is covered without being listed here. ``/dashboard`` (every tenant's runs) is refused (403)
to a user whose ``threads.search`` handler returns a filter. Views call
``authorize(resource, action, value)`` before touching the store and pass the filter it
returns down to the store's queries (``app.store.filters``): a row the filter excludes is
answered 404, as if it did not exist. Runs are authorized as actions on their thread
(``threads.create_run`` to create one, ``threads.read`` to read, join or stream,
``threads.update`` to cancel, ``threads.delete`` to delete), as the official server does.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from flask import Flask, current_app, g, request

from app.auth import ANONYMOUS, PUBLIC_PATHS, Authenticator, AuthError, RequestInfo, User
from app.errors import NotFound
from app.run_requests import build_run
from app.store import threads as thread_store
from app.store.run_creation import NewRun


def authenticator() -> Authenticator | None:
    return current_app.extensions.get("callboard.auth")


def current_user() -> User:
    """The user of this request (``ANONYMOUS`` when auth is off)."""
    return g.get("auth_user") or ANONYMOUS


def user_identity() -> str | None:
    """The identity to record as a resource's creator (None when auth is off)."""
    user = g.get("auth_user")
    return user.identity if user is not None else None


def authorize(resource: str, action: str, value: dict[str, Any]) -> dict[str, Any] | None:
    """Run the ``@auth.on`` handler of ``resource``.``action`` on ``value`` (which it may
    change: use ``value`` afterwards). Returns the filter to apply (None: no restriction).

    Raises:
        AuthError: the handler refused (403, or its own ``HTTPException``).
    """
    auth = authenticator()
    if auth is None:
        return None
    return auth.authorize(current_user(), resource, action, value)


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith("/docs/")


def _request_info() -> RequestInfo:
    return RequestInfo(
        request=request,
        method=request.method,
        path=request.path,
        path_params={k: str(v) for k, v in (request.view_args or {}).items()},
        query_params=request.args.to_dict(),
        headers={
            k.lower().encode("latin-1"): v.encode("latin-1", "replace")
            for k, v in request.headers.items()
        },
    )


def register_auth(app: Flask, auth: Authenticator | None) -> None:
    """Install ``auth`` (None: auth off) on every route of ``app``."""
    if auth is None:
        return
    app.extensions["callboard.auth"] = auth

    @app.before_request
    def authenticate() -> None:
        if request.method == "OPTIONS" or _is_public(request.path):
            return
        g.auth_user = auth.authenticate(_request_info())
        if request.blueprint == "dashboard" and authorize("threads", "search", {}) is not None:
            # the operator's page shows every tenant's runs: not for a user whose auth filter
            # restricts what they may see
            raise AuthError(403, "The dashboard shows every user's runs; your access is filtered")


def authorized_run(assistant: dict, body: dict, thread_id: uuid.UUID | None) -> NewRun:
    """``build_run``'s run for ``body``, once ``threads.create_run`` is authorized (as the
    official server authorizes a run: an action on its thread). The handler's changes to the
    run's ``metadata`` are stored, and stamped on the thread the run creates, if any.

    Raises:
        NotFound: the auth filter excludes the (existing) thread. AuthError: refused.
    """
    value = {
        "thread_id": thread_id,
        "assistant_id": assistant["assistant_id"],
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.get("metadata") or {}),
        "prevent_insert_if_inflight": body.get("multitask_strategy") == "reject",
        "multitask_strategy": body.get("multitask_strategy", "enqueue"),
        "if_not_exists": body.get("if_not_exists", "reject"),
        "after_seconds": body.get("after_seconds") or 0,
        "kwargs": {k: body.get(k) for k in ("input", "command", "config", "context")},
    }
    auth_filter = authorize("threads", "create_run", value)
    if auth_filter is not None and thread_id is not None:
        db = current_app.extensions["callboard"].db
        if thread_store.get(db, thread_id, auth_filter) is None and thread_store.get(db, thread_id):
            raise NotFound(f"Thread with ID {thread_id} not found")
    if authenticator() is None:
        return build_run(assistant, body, thread_id)
    new = build_run(assistant, {**body, "metadata": value["metadata"]}, thread_id)
    return dataclasses.replace(new, new_thread_metadata=value["metadata"])


__all__ = [
    "AuthError",
    "authorize",
    "authorized_run",
    "current_user",
    "register_auth",
    "user_identity",
]
