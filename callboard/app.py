"""``Callboard``: the client application, as Celery's ``Celery`` app.

The same module is imported by callers (to send tasks) and by the server (web and workers load
it through the ``"tasks"`` key of ``langgraph.json``, to know the tasks and run them)::

    import callboard

    app = callboard.Callboard()          # the API at CALLBOARD_URL (default http://localhost:8000)

    @app.task
    def add(x, y):
        return x + y

    add.delay(2, 3).get(timeout=10)      # 5

Callers talk HTTP to the API (``httpx``): a task call is ``POST /runs`` with the task's name as
``assistant_id`` and ``{"args": [...], "kwargs": {...}}`` as input; results are waited for with
the run's ``join`` route (blocking on the server, no polling). ``enqueue_in`` is the one call that
goes to Postgres directly, inside the caller's own transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from callboard.errors import APIError
from callboard.result import AsyncResult
from callboard.task import Task, TaskOptions

DEFAULT_URL = "http://localhost:8000"


@dataclass
class Conf:
    """App settings (Celery's ``app.conf`` names).

    ``result_expires``: seconds a finished task's run (and its result) is kept before the sweeper
    deletes it; None = kept until deleted (Celery's default is one day). Applied to runs created
    while the server has this app loaded.
    """

    result_expires: float | None = None


class Callboard:
    """A Callboard client app.

    Parameters:
        url: the API's base URL; ``CALLBOARD_URL`` when None (read at the first request), else
            ``http://localhost:8000``.
        result_expires: ``conf.result_expires`` (seconds).
        timeout: seconds to connect and for each request other than a ``get`` (whose own
            ``timeout`` bounds its wait).
    """

    def __init__(
        self, url: str | None = None, *, result_expires: float | None = None, timeout: float = 30.0
    ) -> None:
        self._url = url
        self.conf = Conf(result_expires=result_expires)
        self.timeout = timeout
        self.tasks: dict[str, Task] = {}
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return (self._url or os.environ.get("CALLBOARD_URL") or DEFAULT_URL).rstrip("/")

    @url.setter
    def url(self, value: str) -> None:
        with self._lock:
            self._url = value
            if self._client is not None:
                self._client.close()
                self._client = None

    # --- tasks ----------------------------------------------------------------------------

    def task(self, fn: Callable[..., Any] | None = None, **options: Any) -> Any:
        """Decorator: ``@app.task`` or ``@app.task(name=…, autoretry_for=(…), max_retries=…,
        retry_backoff=…, retry_backoff_max=…, retry_jitter=…, queue=…, rate_limit="10/s",
        time_limit=…)`` (``TaskOptions``). Returns a ``Task``, still callable as the function.

        Raises:
            TypeError: an unknown option. ValueError: a bad value (e.g. a rate limit that is
                not ``"<n>/s|m|h"``), or a name already used by another task of this app.
        """

        def register(function: Callable[..., Any]) -> Task:
            task = Task(self, function, TaskOptions.make(function, **options))
            if task.name in self.tasks and self.tasks[task.name].fn is not function:
                raise ValueError(f"task name {task.name!r} is already registered")
            self.tasks[task.name] = task
            return task

        return register(fn) if fn is not None else register

    def signature(self, name: str, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """A signature of the task ``name`` (need not be importable here), as Celery's
        ``app.signature``."""
        from callboard.canvas import Signature

        return Signature(self, name, tuple(args), dict(kwargs or {}), options)

    def send_task(self, name: str, args: tuple = (), kwargs: dict | None = None, **options: Any):
        """Send the task ``name`` by name (Celery's ``app.send_task``) → ``AsyncResult``."""
        return self.signature(name, args, kwargs, **options).apply_async()

    def AsyncResult(self, run_id: str) -> AsyncResult:  # noqa: N802 - Celery's name
        """The result of the task run ``run_id``."""
        return AsyncResult(str(run_id), app=self)

    def enqueue_in(self, conn: Any, signature: Any) -> AsyncResult:
        """Create the run of ``signature`` (a ``Signature``, chain, group or chord) inside the
        caller's open transaction on ``conn`` (a psycopg 3 connection to Callboard's database):
        the run exists if and only if the caller commits. Its message follows the COMMIT (a
        ``NOTIFY`` the sweeper listens to); if that is lost, the sweeper re-sends pending runs.

        Raises:
            APIError-like errors of the store: ``app.errors.InvalidInput`` (bad input),
            ``app.errors.NotFound`` (a task the database has no assistant for).
        """
        from callboard.canvas import as_canvas
        from callboard.transactional import enqueue_in

        return enqueue_in(self, conn, as_canvas(signature))

    # --- HTTP -----------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(base_url=self.url, timeout=self.timeout)
            return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None | object = ...,
    ) -> Any:
        """One API call; returns the JSON answer (None for an empty one).

        Raises:
            APIError: a 4xx/5xx answer. httpx.TimeoutException: ``read_timeout`` (seconds)
                passed.
        """
        timeout = (
            self.timeout if read_timeout is ... else httpx.Timeout(self.timeout, read=read_timeout)  # type: ignore[arg-type]
        )
        response = self.http.request(method, path, json=json, headers=headers, timeout=timeout)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise APIError(response.status_code, detail)
        if not response.content:
            return None
        return response.json()

    def __enter__(self) -> Callboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections (a later call opens new ones)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
