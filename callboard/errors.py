"""The client's exceptions (Celery's names where Celery has them: ``celery.exceptions``).

``CallboardError`` is the root. A task's own error is raised by ``AsyncResult.get`` as its own
type where the client can find it (the task's module, then the builtins), else as ``TaskError``
carrying the type's name.
"""

from __future__ import annotations

import builtins
from typing import Any


class CallboardError(Exception):
    """Root of the client's exceptions."""


class TimeoutError(CallboardError):  # noqa: A001 - Celery's name (celery.exceptions.TimeoutError)
    """``get(timeout=…)`` gave up before the task ended (the task goes on)."""


class TaskRevokedError(CallboardError):
    """The task was revoked (its run ended ``interrupted``)."""


class TaskError(CallboardError):
    """A task's error whose type the client cannot import; ``type`` is its name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type = type_name
        self.message = message


class ChordError(CallboardError):
    """A chord's callback did not run because one of its members failed (Celery's
    ``celery.exceptions.ChordError``); the message names the member and its error."""


class APIError(CallboardError):
    """The API refused a request: ``status`` (HTTP) and ``detail`` (its ``{"detail"}``)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Retry(CallboardError):
    """Raised in the worker by a task whose error is in its ``autoretry_for``: the worker retries
    the run after the task's backoff while ``max_retries`` allow, and otherwise ends it with the
    original error (``error``: ``{"error": type name, "message"}``). Celery's
    ``celery.exceptions.Retry`` plays the same part."""

    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(f"{error['error']}: {error['message']}")
        self.error = error


def rebuild(error: dict[str, Any], namespace: dict[str, Any] | None = None) -> BaseException:
    """The exception for a run's ``error`` (``{"error": type name, "message"}``): the class of
    that name in ``namespace`` (the task's module) or the builtins when it is an exception type
    built from one message (or ``ChordError``), else ``TaskError``."""
    name = str(error.get("error") or "Exception")
    message = str(error.get("message") or "")
    for scope in (namespace or {}, {"ChordError": ChordError}, vars(builtins)):
        cls = scope.get(name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(message)
            except Exception:  # noqa: BLE001 - a constructor that wants other arguments
                break
    return TaskError(name, message)
