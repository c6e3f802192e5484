"""The one error handler: every error is JSON ``{"detail": message}`` (as the official server
answers), plus ``"errors": {field: [messages]}`` for validation, with the right status.

    NotFound → 404, Conflict → 409, InvalidInput / validation / malformed JSON → 422,
    body too large → 413, AuthError → its status (401, 403, a handler's own),
    StoreUnavailable / QueryTimeout → 503, a Redis error → 503 with ``Retry-After: 1``,
    Overloaded → 503 with ``Retry-After``, anything unexpected → 500 (logged).

Only Callboard's errors (``app.errors``) are mapped: the store turns the driver's into them
(``app.store.db.retrying``, ``Database.run``), also for reads through LangGraph's checkpointer
and memory store.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app.auth import AuthError
from app.errors import Conflict, InvalidInput, NotFound, Overloaded, QueryTimeout, StoreUnavailable

logger = logging.getLogger(__name__)


def parse_uuid(value: str, what: str) -> uuid.UUID:
    """``uuid.UUID(value)``; raises InvalidInput ("Invalid thread ID: must be a UUID")."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(f"Invalid {what} ID: must be a UUID") from None


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            out += _flatten(value, f"{prefix}{key}." if key != "json" else prefix)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix.rstrip('.')}: {' '.join(messages)}" if prefix else " ".join(messages)]
    if isinstance(messages, list):
        return [m for item in messages for m in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {messages}"]


def _body(status: int, detail: str, errors: Any = None) -> Any:
    payload: dict[str, Any] = {"detail": detail}
    if errors:
        payload["errors"] = errors
    response = jsonify(payload)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Any:
        return _body(404, str(exc))

    @app.errorhandler(Conflict)
    def conflict(exc: Conflict) -> Any:
        return _body(409, str(exc))

    @app.errorhandler(InvalidInput)
    def invalid(exc: InvalidInput) -> Any:
        return _body(422, str(exc))

    @app.errorhandler(AuthError)
    def auth_error(exc: AuthError) -> Any:
        response = _body(exc.status, exc.detail)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(Overloaded)
    def overloaded(exc: Overloaded) -> Any:
        response = _body(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response

    @app.errorhandler(QueryTimeout)
    def query_timeout(exc: QueryTimeout) -> Any:
        logger.warning("%s", exc)
        return _body(503, "the query took too long; narrow it (filters, limit) or retry later")

    @app.errorhandler(StoreUnavailable)
    def unavailable(exc: StoreUnavailable) -> Any:
        logger.error("store unavailable: %s", exc)
        return _body(503, "service temporarily unavailable, retry later")

    @app.errorhandler(redis.RedisError)  # Redis down or unreachable (streams, joins, cancels)
    def redis_unavailable(exc: redis.RedisError) -> Any:
        logger.error("redis unavailable: %s", exc)
        response = _body(503, "service temporarily unavailable, retry later")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages") if isinstance(data, dict) else None
        if messages:
            lines = _flatten(messages)
            if any("Invalid JSON body" in line for line in lines):
                return _body(422, "Invalid JSON in request body")
            return _body(422, "; ".join(lines), messages)
        if status == 404:
            return _body(404, "Not found")
        if status == 405:
            return _body(405, "Method not allowed")
        if status == 413:
            return _body(413, "Request body too large")
        return _body(status, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        logger.exception("unhandled error")
        return _body(500, "internal error")
