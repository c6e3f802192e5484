"""Celery-style tasks on the server: the ``"tasks"`` modules of ``langgraph.json``.

``"tasks": ["./tasks.py", "package.module"]`` names modules that define tasks with the
``callboard`` client (``@app.task``). Web and workers import each one (a file path is imported
under its dotted name relative to the ``langgraph.json`` directory, which is on ``sys.path``:
``./pkg/tasks.py`` is the module ``pkg.tasks``, so a task's default name is the same here and in
callers that import it) and register every ``Task`` found in it as a graph whose id is the
task's name, its input ``{"args": [...], "kwargs": {...}}``.

A task run's options travel in its config (``configurable``), set at creation when the request
did not set them: ``queue`` (the task's queue), ``run_timeout_seconds`` (its ``time_limit``) and
``result_expires`` (its app's ``conf.result_expires``). Retries and rate limits are applied by the
worker, which has the same tasks loaded (``workers/tasks.py``).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.errors import ConfigurationError, GraphLoadError, InvalidInput

if TYPE_CHECKING:
    from app.deployment import Deployment
    from app.graphs import GraphSpec, Registry


@runtime_checkable
class Task(Protocol):
    """What the server needs of a task defined with the ``callboard`` client
    (``callboard.task.Task`` has it): the server recognises tasks by this shape and never imports
    the client, which imports the server for transactional enqueues (docs/architecture.md)."""

    name: str
    fn: Callable[..., Any]
    options: Any  # callboard.task.TaskOptions: queue, time_limit, max_retries, rate_limit, …
    app: Any  # callboard.app.Callboard: conf.result_expires

    def graph_function(self) -> Callable[..., Any]:
        """The plain function a run of this task executes: input ``{"args", "kwargs"}``."""

logger = logging.getLogger(__name__)


def module_name(entry: str, base: Path) -> str:
    """The dotted module name of a ``"tasks"`` entry (a ``.py`` path relative to ``base``, or
    already a dotted name).

    Raises:
        ConfigurationError: a path outside ``base``."""
    if not entry.endswith(".py"):
        return entry
    path = (base / entry).resolve()
    try:
        relative = path.relative_to(base.resolve())
    except ValueError:
        raise ConfigurationError(
            f"task module {entry!r} must be under the directory of langgraph.json ({base})"
        ) from None
    return ".".join(relative.with_suffix("").parts)


def load_tasks(deployment: Deployment, specs: dict[str, GraphSpec]) -> dict[str, Task]:
    """Import the ``"tasks"`` modules and add a graph spec per task to ``specs``.

    Raises:
        GraphLoadError: a module that cannot be imported. ConfigurationError: a task whose name
            is already a graph id."""
    from app.graphs import function_spec

    tasks: dict[str, Task] = {}
    for entry in deployment.tasks:
        name = module_name(entry, deployment.base)
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise GraphLoadError(
                f"cannot load task module {entry!r} ({name}): {type(exc).__name__}: {exc}"
            ) from exc
        found = [value for value in vars(module).values() if isinstance(value, Task)]
        for task in found:
            if task.name in specs and task.name not in tasks:
                raise ConfigurationError(
                    f"task {task.name!r} of {entry!r} has the id of a graph of {deployment.path}"
                )
            tasks[task.name] = task
            specs[task.name] = function_spec(
                task.name, f"{name}:{task.fn.__qualname__}", task.graph_function(), task.__doc__
            )
        logger.info("loaded %d task(s) from %s", len(found), entry)
    return tasks


def prepare_run(tasks: dict[str, Task], graph_id: str, kwargs: dict[str, Any]) -> None:
    """Fill in, in ``kwargs`` (a run's, ``app.run_requests.build_run``'s), the options of a
    run of the task ``graph_id`` from its task: ``configurable.queue``, ``run_timeout_seconds``,
    ``result_expires``, unless the request set them; a run of another graph is left as it is.

    Raises:
        InvalidInput: the input is not ``{"args": [...], "kwargs": {...}}``."""
    task = tasks.get(graph_id)
    if task is None:
        return
    run_input = kwargs.get("input")
    if run_input is None:
        run_input = kwargs["input"] = {"args": [], "kwargs": {}}
    if (
        not isinstance(run_input, dict)
        or set(run_input) - {"args", "kwargs"}
        or not isinstance(run_input.get("args", []), list)
        or not isinstance(run_input.get("kwargs", {}), dict)
    ):
        raise InvalidInput(
            f'the input of task {task.name!r} must be {{"args": [...], "kwargs": {{...}}}}'
        )
    config = kwargs.setdefault("config", {})
    configurable = config.setdefault("configurable", {})
    defaults = {
        "queue": task.options.queue,
        "run_timeout_seconds": task.options.time_limit,
        "result_expires": task.app.conf.result_expires,
    }
    for key, value in defaults.items():
        if value is not None:
            configurable.setdefault(key, value)


def tasks_of(registry: Registry) -> dict[str, Task]:
    return getattr(registry, "tasks", {}) or {}
