"""``callboard``: Celery's programming model on Callboard's exactly-once runs.

``Callboard`` (the app, ``@app.task``), ``AsyncResult``/``GroupResult``, the canvas
(``chain``, ``group``, ``chord``) and the exceptions; see README "Coming from Celery".
"""

from __future__ import annotations

from callboard.app import Callboard
from callboard.canvas import Signature, chain, chord, group
from callboard.errors import (
    APIError,
    CallboardError,
    ChordError,
    Retry,
    TaskError,
    TaskRevokedError,
    TimeoutError,
)
from callboard.result import AsyncResult, GroupResult
from callboard.task import Task, TaskOptions

__all__ = [
    "APIError",
    "AsyncResult",
    "Callboard",
    "CallboardError",
    "ChordError",
    "GroupResult",
    "Retry",
    "Signature",
    "Task",
    "TaskError",
    "TaskOptions",
    "TaskRevokedError",
    "TimeoutError",
    "chain",
    "chord",
    "group",
]
