"""Callboard's exceptions: one root, subclasses named for the condition.

The API maps them to HTTP statuses in ``app/api/errors.py``: ``NotFound`` → 404,
``Conflict`` → 409, ``InvalidInput`` → 422.
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
