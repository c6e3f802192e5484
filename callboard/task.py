"""``Task``: a plain function registered with ``@app.task``, and its options.

A task is a graph of Callboard whose id is the task's name (``module.function`` by default, as
Celery names tasks: callers and workers must import the module under the same name) and whose
input is ``{"args": [...], "kwargs": {...}}``. ``task(*args)`` calls the function here;
``task.delay(*args)`` runs it on a worker and returns an ``AsyncResult``.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callboard.errors import Retry

if TYPE_CHECKING:
    from callboard.app import Callboard
    from callboard.canvas import Signature
    from callboard.result import AsyncResult

RATE_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
PERIOD_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate_limit(value: str) -> tuple[float, float]:
    """``"10/s"``, ``"100/m"``, ``"5/h"`` (Celery's format) → (count, period in seconds).

    Raises:
        ValueError: another format, or a count of 0.
    """
    match = RATE_LIMIT.match(value)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"rate_limit must look like '10/s', '100/m' or '5/h', got {value!r}")
    return float(match.group(1)), PERIOD_SECONDS[match.group(2)]


@dataclass(frozen=True)
class TaskOptions:
    """A task's options (Celery's names and defaults where Celery has them).

    Parameters:
        name: the task's name, its graph id (default ``module.qualname``).
        autoretry_for: exception types after which the run is retried.
        max_retries: retries at most (Celery's default: 3); None = no bound.
        retry_backoff: False = retry at once; True = exponential backoff from 1 s; a number =
            exponential backoff from that many seconds (delay of retry n: base × 2ⁿ seconds).
        retry_backoff_max: the longest delay, seconds (Celery's default: 600).
        retry_jitter: the delay is drawn uniformly from [0, delay] (Celery's "full jitter").
        queue: the Dramatiq queue its runs go to (default: the workers' default queue).
        rate_limit: ``"<n>/s|m|h"``: at most n starts per period across all workers.
        time_limit: seconds before a run ends as ``timeout`` (default: RUN_TIMEOUT_SECONDS).
    """

    name: str
    autoretry_for: tuple[type[BaseException], ...] = ()
    max_retries: int | None = 3
    retry_backoff: bool | float = False
    retry_backoff_max: float = 600.0
    retry_jitter: bool = True
    queue: str | None = None
    rate_limit: str | None = None
    time_limit: float | None = None

    @classmethod
    def make(cls, fn: Callable[..., Any], **options: Any) -> TaskOptions:
        """Options for ``fn`` from the decorator's keyword arguments (checked here).

        Raises:
            TypeError: an unknown option (named). ValueError: a bad value."""
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown task option(s): {', '.join(sorted(unknown))}")
        options.setdefault("name", f"{fn.__module__}.{fn.__qualname__}")
        options["autoretry_for"] = tuple(options.get("autoretry_for") or ())
        made = cls(**options)
        if made.rate_limit is not None:
            parse_rate_limit(made.rate_limit)
        if made.time_limit is not None and made.time_limit <= 0:
            raise ValueError("time_limit must be > 0 seconds")
        if made.max_retries is not None and made.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        return made

    def retry_delay(self, retries: int) -> float:
        """Seconds before retry number ``retries + 1`` (``retries`` already made), as Celery's
        ``get_exponential_backoff_interval``: min(base × 2^retries, max), then full jitter."""
        if self.retry_backoff is False:
            return 0.0
        base = 1.0 if self.retry_backoff is True else float(self.retry_backoff)
        delay = min(base * (2**retries), self.retry_backoff_max)
        return random.uniform(0, delay) if self.retry_jitter else delay


class Task:
    """A registered task. Calling it runs the function here; ``delay``/``apply_async`` run it on a
    worker."""

    def __init__(self, app: Callboard, fn: Callable[..., Any], options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.options = options
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.options.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<@task: {self.name}>"

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature (a call to make later, part of a canvas), as Celery's ``task.s``."""
        from callboard.canvas import Signature

        return Signature(self.app, self.name, args, kwargs, {})

    signature = s

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Run the task on a worker: ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: tuple | list | None = None,
        kwargs: dict | None = None,
        *,
        countdown: float | None = None,
        eta: datetime.datetime | None = None,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncResult:
        """Create a run of the task → its ``AsyncResult``.

        Parameters:
            countdown: seconds from now before it may start.
            eta: an aware datetime before which it may not start (turned into a countdown with
                this machine's clock).
            queue: the queue for this call (default: the task's).
            idempotency_key: a retry of the call with the same key and arguments gets the same
                run (the API's ``Idempotency-Key``; the same key with other arguments: APIError
                422).

        Raises:
            APIError: the API refused the call (e.g. arguments that are not JSON).
        """
        return self.s(*(args or ()), **(kwargs or {})).apply_async(
            countdown=countdown, eta=eta, queue=queue, idempotency_key=idempotency_key
        )

    # --- the worker's side ----------------------------------------------------------------

    def graph_function(self) -> Callable[[Any], Any]:
        """The one-argument function the server registers as the task's graph: it takes the
        run's input ``{"args", "kwargs"}``, calls the task, and turns an error listed in
        ``autoretry_for`` into ``Retry`` (the worker decides whether a retry is left)."""
        fn, retry_for = self.fn, self.options.autoretry_for

        def split(run_input: Any) -> tuple[list, dict]:
            if not isinstance(run_input, dict):
                raise TypeError('a task\'s input is {"args": [...], "kwargs": {...}}')
            return list(run_input.get("args") or []), dict(run_input.get("kwargs") or {})

        def retry(exc: Exception) -> Retry:
            return Retry({"error": type(exc).__name__, "message": str(exc)})

        if inspect.iscoroutinefunction(fn):

            async def run_async(run_input: Any) -> Any:
                args, kwargs = split(run_input)
                try:
                    return await fn(*args, **kwargs)
                except retry_for as exc:
                    raise retry(exc) from exc

            run_async.__name__ = self.name
            return run_async

        def run(run_input: Any) -> Any:
            args, kwargs = split(run_input)
            try:
                return fn(*args, **kwargs)
            except retry_for as exc:
                raise retry(exc) from exc

        run.__name__ = self.name
        run.__doc__ = fn.__doc__
        return run
