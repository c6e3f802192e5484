"""The graph registry: every accepted kind of graph, and clear errors for the rest."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from langgraph.pregel import Pregel

from app.errors import ConfigurationError, GraphLoadError, NotFound
from app.graphs import Registry

HERE = Path(__file__).parent / "graphs"


def registry_file(tmp_path: Path, graphs: dict) -> str:
    path = tmp_path / "langgraph.json"
    path.write_text(json.dumps({"graphs": graphs}))
    return str(path)


def load(tmp_path: Path, **graphs: str) -> Registry:
    return Registry.load(registry_file(tmp_path, {k: str(HERE / v) for k, v in graphs.items()}))


def test_each_kind_is_loaded_as_a_langgraph_graph(tmp_path):
    registry = load(
        tmp_path,
        compiled="kinds.py:compiled",
        uncompiled="kinds.py:uncompiled",
        factory="kinds.py:factory",
        factory_with_config="kinds.py:factory_with_config",
        functional="kinds.py:functional",
        plain="kinds.py:plain",
        plain_async="kinds.py:plain_async",
    )
    kinds = {gid: spec.kind for gid, spec in registry.specs.items()}
    assert kinds == {
        "compiled": "graph",
        "uncompiled": "graph",
        "factory": "factory",
        "factory_with_config": "factory",
        "functional": "graph",
        "plain": "function",
        "plain_async": "function",
    }
    for spec in registry.specs.values():
        assert isinstance(spec.build({}), Pregel)


def test_runtime_factories_get_a_read_runtime_at_load_and_an_execution_runtime_per_run(tmp_path):
    from langgraph.store.base import BaseStore
    from langgraph.store.memory import InMemoryStore
    from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

    registry = load(
        tmp_path,
        both="kinds.py:async_factory_with_runtime",
        runtime_only="kinds.py:factory_with_runtime_only",
    )
    kinds = sys.modules[next(m for m in sys.modules if m.startswith("callboard_graphs.kinds_"))]
    at_load = list(kinds.seen_runtimes)
    assert [type(r) for r in at_load] == [_ReadRuntime, _ReadRuntime]
    assert {r.access_context for r in at_load} == {"assistants.read"}
    assert all(isinstance(r.store, BaseStore) for r in at_load)
    assert registry.get("both").factory_parameters == ("config", "runtime")
    assert registry.get("runtime_only").factory_parameters == ("runtime",)

    store = InMemoryStore()
    built = asyncio.run(
        registry.get("both").abuild({"configurable": {}}, store=store, context={"user": "u"})
    )
    assert isinstance(built, Pregel)
    runtime = kinds.seen_runtimes[-1]
    assert isinstance(runtime, _ExecutionRuntime)
    assert runtime.access_context == "threads.create_run"
    assert runtime.execution_runtime is runtime
    assert runtime.store is store and runtime.context == {"user": "u"}


def test_plain_functions_run_through_langgraph(tmp_path):
    registry = load(tmp_path, plain="kinds.py:plain", plain_async="kinds.py:plain_async")
    plain = registry.get("plain")
    assert plain.graph.invoke({"x": 1}) == {"x": 2}
    assert plain.description == "Add one to x."
    assert asyncio.run(registry.get("plain_async").graph.ainvoke({"x": 1})) == {"x": 0}


def test_an_unknown_graph_id_is_not_found(tmp_path):
    registry = load(tmp_path, plain="kinds.py:plain")
    with pytest.raises(NotFound, match="plain"):
        registry.get("nope")


def test_a_module_that_fails_to_import_names_the_file_and_the_error(tmp_path):
    with pytest.raises(GraphLoadError) as raised:
        load(tmp_path, broken="broken.py:graph")
    message = str(raised.value)
    assert "broken.py:graph" in message
    assert "definitely_missing_dependency" in message


@pytest.mark.parametrize(
    "source, needle",
    [
        ("kinds.py:missing_attr", "missing_attr"),
        ("kinds.py:not_a_graph", "int"),
        ("kinds.py:failing_factory", "factory exploded"),
        ("does_not_exist.py:graph", "does_not_exist.py"),
    ],
)
def test_what_is_not_a_graph_is_refused_with_a_reason(tmp_path, source, needle):
    with pytest.raises(GraphLoadError, match=needle):
        load(tmp_path, g=source)


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"graphs": {}}), json.dumps([1]), json.dumps({"graphs": {"g": 5}})],
)
def test_a_malformed_registry_is_a_configuration_error(tmp_path, content):
    path = tmp_path / "langgraph.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError):
        Registry.load(str(path))


def test_a_missing_registry_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        Registry.load(str(tmp_path / "nope.json"))


def test_the_example_registry_loads():
    from app.config import DEFAULT_CONFIG

    registry = Registry.load(DEFAULT_CONFIG)
    assert {"word_stats", "sha256", "accumulate", "sleeper", "noop"} <= set(registry.ids)
