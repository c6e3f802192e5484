"""Graphs of ``bench/compare.py``, served by Callboard and by ``langgraph dev`` alike."""

from __future__ import annotations

import time
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int
    trail: list[str]


def _step(name: str) -> Any:
    def node(state: State) -> State:
        return {"n": state.get("n", 0) + 1, "trail": [*state.get("trail", []), name]}

    return node


def _build() -> Any:
    builder = StateGraph(State)
    for name in ("a", "b", "c"):
        builder.add_node(name, _step(name))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder.compile()


# a 3-node StateGraph: a -> b -> c, each adds 1 to ``n``
chain3 = _build()


def sleep100(input: dict[str, Any]) -> dict[str, Any]:
    """An I/O-bound plain function: sleeps 100 ms (``time.sleep`` releases the GIL)."""
    time.sleep(0.1)
    return dict(input or {})
