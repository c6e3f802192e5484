"""``runtime_factory``: an async two-argument graph factory ``(config, runtime)``, as the official
server calls them (``langgraph_sdk.runtime``). Its one node reports what the factory was given:
``{"access_context", "is_for_execution", "store_is_base_store", "context"}``.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    access_context: str
    is_for_execution: bool
    store_is_base_store: bool
    context: Any


async def runtime_factory(config: dict[str, Any], runtime: Any) -> Any:
    report = {
        "access_context": runtime.access_context,
        "is_for_execution": runtime.execution_runtime is not None,
        "store_is_base_store": isinstance(runtime.store, BaseStore),
        "context": getattr(runtime, "context", None),
    }

    def echo(state: State) -> State:
        return dict(report)  # type: ignore[return-value]

    return (
        StateGraph(State)
        .add_node("echo", echo)
        .add_edge(START, "echo")
        .add_edge("echo", END)
        .compile()
    )
