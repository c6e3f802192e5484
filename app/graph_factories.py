"""Graph factories: which arguments a factory takes, and calling it (sync or async).

As the official server does (``langgraph_api/graph.py``, langgraph-api 0.16): a factory takes no
argument, ``(config)``, ``(runtime)`` or ``(config, runtime)``, where ``runtime`` is a
``langgraph_sdk.runtime`` server runtime:

- ``_ExecutionRuntime(access_context="threads.create_run", store=…, context=…)`` when a run
  executes the graph (``GraphSpec.abuild`` in the worker);
- ``_ReadRuntime(access_context="assistants.read", store=…)`` outside a run (loading the
  registry, schemas, drawings). Outside a run the store is an empty in-memory ``BaseStore``
  unless the caller passes one: the graph's topology must not depend on it.

A one-parameter factory gets the runtime when the parameter is named ``runtime`` or annotated
``ServerRuntime``, else the config. A coroutine function's result is awaited.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime


def factory_parameters(fn: Callable[..., Any]) -> tuple[str, ...] | None:
    """What ``fn`` takes as a factory: ``()``, ``("config",)``, ``("runtime",)`` or ``("config",
    "runtime")`` (in call order); None when ``fn`` is not a factory (e.g. a plain function that
    takes the input)."""
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return None
    required = [p for p in params if p.default is p.empty]
    if not required:
        return ()
    if len(params) == 1:
        if params[0].name == "config":
            return ("config",)
        if params[0].name == "runtime" or "ServerRuntime" in str(params[0].annotation):
            return ("runtime",)
        return None
    if len(params) == 2:
        names = tuple(p.name for p in params)
        if names == ("runtime", "config"):
            return names
        if params[0].name == "config" or params[1].name == "runtime":
            return ("config", "runtime")
    return None


def read_runtime(store: BaseStore | None = None) -> _ReadRuntime:
    """The runtime a factory gets outside a run (``assistants.read``)."""
    return _ReadRuntime(access_context="assistants.read", store=store or InMemoryStore())


def execution_runtime(store: BaseStore, context: Any = None) -> _ExecutionRuntime:
    """The runtime a factory gets when a run executes it (``threads.create_run``)."""
    return _ExecutionRuntime(access_context="threads.create_run", store=store, context=context)


def _arguments(parameters: tuple[str, ...], config: dict[str, Any], runtime: Any) -> list[Any]:
    return [config if name == "config" else runtime for name in parameters]


async def call_factory(
    fn: Callable[..., Any],
    parameters: tuple[str, ...],
    config: dict[str, Any],
    *,
    store: BaseStore,
    context: Any = None,
) -> Any:
    """Call the factory for a run (awaited when async); returns what it returns."""
    result = fn(*_arguments(parameters, config, execution_runtime(store, context)))
    if inspect.isawaitable(result):
        result = await result
    return result


def call_factory_sync(
    fn: Callable[..., Any],
    parameters: tuple[str, ...],
    config: dict[str, Any],
    store: BaseStore | None = None,
) -> Any:
    """Call the factory outside a run, from sync code: an async factory runs to its end on a
    private event loop (in a helper thread when this thread already runs a loop)."""
    result = fn(*_arguments(parameters, config, read_runtime(store)))
    if not inspect.isawaitable(result):
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(result))
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(_await(result))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="graph-factory")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _await(awaitable: Any) -> Any:
    return await awaitable
