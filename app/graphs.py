"""The graph registry: what a run executes.

The registry file is ``langgraph.json``-compatible (``{"graphs": {"id": "path/file.py:attr"}}``;
a value may also be ``{"path": ..., "description": ...}``, and the path may be a dotted module).
``attr`` names one of:

- a compiled LangGraph graph (``StateGraph(...).compile()``, or a functional-API ``@entrypoint``);
- an uncompiled ``StateGraph`` (compiled here);
- a factory, sync or async, that returns one of the above: with no required parameter, or
  ``(config)``, ``(runtime)`` or ``(config, runtime)`` (``app.graph_factories``): called per run
  with the run's config and a ``langgraph_sdk.runtime`` server runtime when it takes them, as
  the official server does;
- a plain Python function, sync or async, that takes the input and returns the new state (the
  Celery-style task). Its runs are called directly by the worker (``workers.plain``) when they
  ask for nothing only LangGraph provides; it is also wrapped into an ``@entrypoint``, which
  serves its schemas and drawing, state updates, and the runs that need LangGraph.

A graph that fails to import stops start-up with ``GraphLoadError`` naming the file and error.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.func import entrypoint
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from app.deployment import Deployment
from app.errors import ConfigurationError, GraphLoadError, NotFound
from app.graph_factories import call_factory, call_factory_sync, factory_parameters

logger = logging.getLogger(__name__)


@dataclass
class GraphSpec:
    """One registry entry.

    ``kind`` is ``graph`` (compiled), ``factory`` or ``function``; ``graph`` is the compiled
    graph (for a factory: the one it returned at load, used for schemas and drawings; for a
    function: its ``@entrypoint`` wrapper). For a function, ``function`` is the function itself
    and ``node`` the name of the wrapper's one node (checkpoints name it in ``versions_seen``).
    """

    graph_id: str
    source: str
    kind: str
    graph: Pregel
    description: str | None = None
    factory: Callable[..., Any] | None = None
    # what the factory takes: a subset of ("config", "runtime") in call order
    factory_parameters: tuple[str, ...] = ()
    function: Callable[..., Any] | None = None
    node: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def build(self, config: dict[str, Any] | None = None) -> Pregel:
        """The graph for ``config`` outside a run (sync; a factory taking a runtime gets a
        ``_ReadRuntime`` for ``assistants.read``)."""
        if self.factory is not None and self.factory_parameters:
            built = call_factory_sync(self.factory, self.factory_parameters, config or {})
            return _as_pregel(built, self.source)
        return self.graph

    async def abuild(self, config: dict[str, Any], *, store: Any, context: Any = None) -> Pregel:
        """The graph a run executes: a fresh one per run for factories that take a config or a
        runtime (an ``_ExecutionRuntime`` for ``threads.create_run`` whose ``store`` is
        ``store`` and ``context`` the run's context); async factories are awaited."""
        if self.factory is not None and self.factory_parameters:
            built = await call_factory(
                self.factory, self.factory_parameters, config, store=store, context=context
            )
            return _as_pregel(built, self.source)
        return self.graph


class Registry:
    """The loaded graphs, by id.

    Raises (from ``load``):
        ConfigurationError: the registry file is missing or malformed.
        GraphLoadError: a graph cannot be imported or is not a graph or function.
    """

    def __init__(
        self, specs: dict[str, GraphSpec], path: str, document: dict[str, Any] | None = None
    ) -> None:
        self.specs = specs
        self.path = path
        # the whole langgraph.json, for the keys beside "graphs" (see ``http_cors``)
        self.document = document or {}
        self.deployment: Deployment | None = None  # the parsed langgraph.json, once loaded
        # the Celery-style tasks of the "tasks" modules, by name (also in ``specs``: app.tasks)
        self.tasks: dict[str, Any] = {}

    @classmethod
    def load(cls, path: str) -> Registry:
        """Load the graphs of the ``langgraph.json`` at ``path`` (every other key of the file is
        checked too: ``app.deployment``); its local ``dependencies`` go on ``sys.path`` first."""
        deployment = Deployment.load(path)
        deployment.add_dependencies()
        specs = {}
        for graph_id, entry in deployment.graphs.items():
            source, description = entry, None
            if isinstance(entry, dict):
                source, description = entry.get("path"), entry.get("description")
            if not isinstance(source, str) or ":" not in source:
                raise ConfigurationError(
                    f"graph {graph_id!r} in {deployment.path}: expected 'file.py:attr', "
                    f"got {source!r}"
                )
            specs[graph_id] = _load_spec(graph_id, source, deployment.base, description)
        from app.tasks import load_tasks

        tasks = load_tasks(deployment, specs)
        logger.info("loaded %d graph(s) from %s: %s", len(specs), deployment.path, ", ".join(specs))
        registry = cls(specs, str(deployment.path), deployment.document)
        registry.deployment = deployment
        registry.tasks = tasks
        return registry

    def get(self, graph_id: str) -> GraphSpec:
        """Raises ``NotFound`` for an unknown graph id."""
        try:
            return self.specs[graph_id]
        except KeyError:
            raise NotFound(
                f"Graph {graph_id!r} not found. Expected one of: {sorted(self.specs)}"
            ) from None

    def __contains__(self, graph_id: object) -> bool:
        return graph_id in self.specs

    @property
    def ids(self) -> list[str]:
        return list(self.specs)

    @property
    def http_cors(self) -> dict[str, Any] | None:
        """The registry's ``http.cors`` object (the official ``langgraph.json`` key: Starlette
        ``CORSMiddleware`` arguments such as ``allow_origins``, ``allow_methods``,
        ``allow_headers``, ``allow_credentials``, ``expose_headers``, ``max_age``), or None
        when absent. ``app.cors`` applies it."""
        if self.deployment is not None:  # checked by Deployment.load
            return self.deployment.http_cors
        http = self.document.get("http")
        cors = http.get("cors") if isinstance(http, dict) else None
        if cors is not None and not isinstance(cors, dict):
            raise ConfigurationError(f"http.cors in {self.path} must be an object")
        return cors


def import_object(source: str, base: Path) -> Any:
    """The object ``file.py:attr`` (relative to ``base``) or ``package.module:attr`` names.

    Raises:
        GraphLoadError: it cannot be imported (the message names the source and the error).
    """
    location, _, attr = source.rpartition(":")
    try:
        if location.endswith(".py"):
            file = (base / location).resolve()
            module_name = f"callboard_graphs.{file.stem}_{abs(hash(str(file))):x}"
            if module_name in sys.modules:
                module = sys.modules[module_name]
            else:
                spec = importlib.util.spec_from_file_location(module_name, file)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {file}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[module_name]
                    raise
        else:
            module = importlib.import_module(location)
        return getattr(module, attr)
    except Exception as exc:
        raise GraphLoadError(
            f"cannot load graph from {source!r} ({base}): {type(exc).__name__}: {exc}"
        ) from exc


def _as_pregel(obj: Any, source: str) -> Pregel:
    if isinstance(obj, Pregel):
        return obj
    if isinstance(obj, StateGraph):
        return obj.compile()
    raise GraphLoadError(f"{source!r} did not give a LangGraph graph (got {type(obj).__name__})")


def _load_spec(graph_id: str, source: str, base: Path, description: str | None) -> GraphSpec:
    obj = import_object(source, base)
    if isinstance(obj, (Pregel, StateGraph)):
        return GraphSpec(graph_id, source, "graph", _as_pregel(obj, source), description)
    if not callable(obj):
        raise GraphLoadError(f"{source!r} is a {type(obj).__name__}, not a graph or function")
    parameters = factory_parameters(obj)
    if parameters is not None:
        try:
            built = call_factory_sync(obj, parameters, {})
        except Exception as exc:
            raise GraphLoadError(
                f"graph factory {source!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
        graph = _as_pregel(built, source)
        return GraphSpec(
            graph_id,
            source,
            "factory",
            graph,
            description,
            factory=obj if parameters else None,
            factory_parameters=parameters,
        )
    return function_spec(graph_id, source, obj, description)


def function_spec(
    graph_id: str, source: str, fn: Callable[..., Any], description: str | None = None
) -> GraphSpec:
    """The spec of a plain function (wrapped into an ``@entrypoint``); ``app.tasks`` makes the
    tasks of the ``"tasks"`` modules with it."""
    wrapped = entrypoint()(fn)
    wrapped.name = graph_id
    return GraphSpec(
        graph_id,
        source,
        "function",
        wrapped,
        description or inspect.getdoc(fn),
        function=fn,
        node=next(name for name in wrapped.nodes if name != "__start__"),
    )
