"""What the actor needs in a worker process: settings, stores, executor, heartbeats.

``python -m workers`` builds one ``Runtime`` and installs it with ``install``; the actor reads it
with ``current``. Tests build their own.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

import dramatiq
import redis

from app.config import Settings
from app.graphs import Registry
from app.store.db import Database
from workers.executor import Executor
from workers.heartbeat import Heartbeats


def make_worker_id() -> str:
    """``host:pid:random`` — unique per process, readable in ``runs.worker_id``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: redis.Redis
    registry: Registry
    executor: Executor
    heartbeats: Heartbeats
    actor: dramatiq.Actor
    worker_id: str
    # set when shutdown starts: attempts claimed from now on are handed back at once
    stopping: threading.Event = field(default_factory=threading.Event)


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    """Raises RuntimeError outside a worker process."""
    if _current is None:
        raise RuntimeError("no worker runtime installed (run `python -m workers`)")
    return _current
