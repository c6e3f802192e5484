"""A multi-node LangGraph ``StateGraph`` whose state accumulates across the runs of a thread.

Each run appends its ``numbers`` to the thread's list, then ``summarize`` recomputes the total,
the count and the mean over everything the thread has seen so far.

Input: ``{"numbers": [number, ...]}``.
State: ``{"numbers": [...], "total": number, "count": int, "mean": number | None, "runs": int}``.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    numbers: Annotated[list[float], operator.add]
    total: float
    count: int
    mean: float | None
    runs: Annotated[int, operator.add]


def validate(state: State) -> State:
    """Reject non-numeric input before it lands in the thread's state."""
    for n in state.get("numbers", []):
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            raise TypeError(f"not a number: {n!r}")
    return {"runs": 1}


def summarize(state: State) -> State:
    numbers = state.get("numbers", [])
    total = sum(numbers)
    return {
        "total": total,
        "count": len(numbers),
        "mean": total / len(numbers) if numbers else None,
    }


builder = StateGraph(State)
builder.add_node("validate", validate)
builder.add_node("summarize", summarize)
builder.add_edge(START, "validate")
builder.add_edge("validate", "summarize")
builder.add_edge("summarize", END)

graph = builder.compile()
