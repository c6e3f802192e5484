"""Callboard's exceptions: one root, subclasses named for the condition.

The API maps them to HTTP statuses in ``app/api/errors.py``: ``NotFound`` → 404,
``Conflict`` → 409, ``InvalidInput`` → 422, ``StoreUnavailable`` and ``Overloaded`` → 503.
"""

from __future__ import annotations


class CallboardError(Exception):
    """Root of every error Callboard raises on purpose."""


class ConfigurationError(CallboardError):
    """A setting or the graph registry is invalid; the process cannot start."""


class GraphLoadError(ConfigurationError):
    """A graph named in the registry could not be imported (the message names file and error)."""


class NotFound(CallboardError):
    """The resource (assistant, thread, run, graph) does not exist."""


class Conflict(CallboardError):
    """The request conflicts with the current state (e.g. an id that already exists)."""


class InvalidInput(CallboardError):
    """The request is well-formed JSON but its content is not acceptable."""


class StoreUnavailable(CallboardError):
    """Postgres or Redis kept failing with retryable errors past the retry budget."""


class QueryTimeout(StoreUnavailable):
    """A query of an API request ran past ``CALLBOARD_API_STATEMENT_TIMEOUT_SECONDS`` (503)."""


class Overloaded(CallboardError):
    """This web process holds as many long-lived requests (streams, joins, waits) as it may
    (503 with ``Retry-After``)."""

    retry_after_seconds = 5
